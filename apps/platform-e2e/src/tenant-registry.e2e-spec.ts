import { execFileSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Kafka, logLevel } from 'kafkajs';
import { PROTO_FILES } from '@metering/contracts';
import { api, eventually, kafkaBrokers, serviceUrl, stackVar, uniqueName } from '@metering/testing';

const registry = serviceUrl('tenant-registry');
const call = (method: string, path: string, key?: string, body?: unknown, headers?: Record<string, string>) =>
  api(registry, method, path, { key, body, headers });

type VerifyReply = {
  valid: boolean;
  tenantId: string;
  accountId: string;
  tenantStatus: string;
  reason: string;
};

function grpcClient() {
  const definition = loadSync(PROTO_FILES.registry, { keepCase: false, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(definition) as any;
  const client = new pkg.metering.registry.v1.TenantRegistry(
    '127.0.0.1:50051',
    grpc.credentials.createInsecure(),
  );
  const verify = (key: string, requiredScope = 'ingest') =>
    new Promise<VerifyReply>((resolve, reject) =>
      client.VerifyKey({ key, requiredScope }, (err: Error | null, reply: VerifyReply) =>
        err ? reject(err) : resolve(reply),
      ),
    );
  const getTenant = (tenantId: string) =>
    new Promise<{ id: string; status: string; limits: Record<string, number> }>((resolve, reject) =>
      client.GetTenant({ tenantId }, (err: Error | null, reply: any) => (err ? reject(err) : resolve(reply))),
    );
  return { verify, getTenant, close: () => client.close() };
}

async function newAccount(name = 'Vendor') {
  const admin = stackVar('ADMIN_KEY');
  const account = await call('POST', '/v1/accounts', admin, {
    name,
    currency: 'USD',
    timezone: 'Europe/Berlin',
    billingAnchorDay: 1,
  });
  expect(account.status).toBe(201);
  const owner = await call('POST', `/v1/accounts/${account.body.id}/management-keys`, admin, {
    role: 'owner',
  });
  expect(owner.status).toBe(201);
  return { id: account.body.id as string, ownerKey: owner.body.secret as string };
}

describe('tenant registry', () => {
  it('refuses bad input with a code and the offending field, changing nothing', async () => {
    const admin = stackVar('ADMIN_KEY');
    const cases: [unknown, string, string][] = [
      [{ name: 'x', currency: 'ZZZ', timezone: 'UTC', billingAnchorDay: 1 }, 'invalid_currency', 'currency'],
      [
        { name: 'x', currency: 'USD', timezone: 'Mars/Base', billingAnchorDay: 1 },
        'invalid_timezone',
        'timezone',
      ],
      [
        { name: 'x', currency: 'USD', timezone: 'UTC', billingAnchorDay: 31 },
        'validation_failed',
        'billingAnchorDay',
      ],
      [
        { name: 'x', currency: 'USD', timezone: 'UTC', billingAnchorDay: 1, extra: 1 },
        'validation_failed',
        'extra',
      ],
    ];
    for (const [body, code, field] of cases) {
      const res = await call('POST', '/v1/accounts', admin, body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe(code);
      expect(JSON.stringify(res.body.error.details)).toContain(field);
    }
    const { id, ownerKey } = await newAccount();
    const tenant = await call('POST', `/v1/accounts/${id}/tenants`, ownerKey, { name: 'app' });
    for (const [limits, code] of [
      [{ maxAgents: -1 }, 'invalid_limit'],
      [{ maxAgents: 1.5 }, 'invalid_limit'],
      [{ maxUnicorns: 1 }, 'unknown_limit'],
    ] as const) {
      const res = await call('PUT', `/v1/tenants/${tenant.body.id}/limits`, ownerKey, { limits });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe(code);
    }
    const resume = await call('POST', `/v1/tenants/${tenant.body.id}/resume`, ownerKey);
    expect(resume.status).toBe(409);
    expect(resume.body.error.code).toBe('invalid_transition');
    expect((await call('GET', `/v1/tenants/${tenant.body.id}`, ownerKey)).body.version).toBe(1);
  });

  it('creates tenants from a template, in bulk, and pages through them by status', async () => {
    const { id, ownerKey } = await newAccount();
    const template = await call('POST', '/v1/templates', ownerKey, {
      accountId: id,
      name: 'standard',
      limits: { maxAgents: 10, diskQuotaMb: 1024 },
      features: { aiAssist: true },
      placement: { deploymentModel: 'resource-shared', hosting: 'platform', cell: 'eu-1' },
    });
    expect(template.status).toBe(201);
    const bulk = await call('POST', `/v1/accounts/${id}/tenants/bulk`, ownerKey, {
      templateId: template.body.id,
      tenants: Array.from({ length: 25 }, (_, i) => ({ name: `app-${i}`, limits: { maxAgents: i } })),
    });
    expect(bulk.status).toBe(201);
    expect(bulk.body.created).toBe(25);
    expect(bulk.body.tenants[7]).toMatchObject({
      limits: { maxAgents: 7, diskQuotaMb: 1024 },
      features: { aiAssist: true },
      placement: { cell: 'eu-1' },
      templateId: template.body.id,
    });
    const suspended = bulk.body.tenants.slice(0, 3) as { id: string }[];
    for (const t of suspended)
      expect((await call('POST', `/v1/tenants/${t.id}/suspend`, ownerKey, {})).status).toBe(201);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: { id: string; status: string }[]; nextCursor: string | null } } =
        await call(
          'GET',
          `/v1/accounts/${id}/tenants?status=active&limit=10${cursor ? `&cursor=${cursor}` : ''}`,
          ownerKey,
        );
      expect(page.body.items.every((t) => t.status === 'active')).toBe(true);
      seen.push(...page.body.items.map((t) => t.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(22);
  });

  it('keeps a full history of a tenant from its event stream', async () => {
    const { id, ownerKey } = await newAccount();
    const t = (await call('POST', `/v1/accounts/${id}/tenants`, ownerKey, { name: 'app' })).body;
    await call('PUT', `/v1/tenants/${t.id}/limits`, ownerKey, { limits: { maxWidgets: 4 } });
    await call('PUT', `/v1/tenants/${t.id}/features`, ownerKey, { features: { beta: true } });
    await call('POST', `/v1/tenants/${t.id}/suspend`, ownerKey, { reason: 'unpaid' });
    await call('POST', `/v1/tenants/${t.id}/resume`, ownerKey);
    await call('DELETE', `/v1/tenants/${t.id}`, ownerKey);
    const history = await call('GET', `/v1/tenants/${t.id}/history`, ownerKey);
    expect(history.body.events.map((e: { type: string }) => e.type)).toEqual([
      'tenant.created',
      'tenant.limits_changed',
      'tenant.features_changed',
      'tenant.suspended',
      'tenant.resumed',
      'tenant.deleted',
    ]);
    const write = await call('PUT', `/v1/tenants/${t.id}/limits`, ownerKey, { limits: { maxWidgets: 5 } });
    expect(write.status).toBe(409);
    expect(write.body.error.code).toBe('tenant_deleted');
  });

  it('enforces roles: no key 401, a viewer reads but cannot write', async () => {
    const { id, ownerKey } = await newAccount();
    const viewer = (await call('POST', `/v1/accounts/${id}/management-keys`, ownerKey, { role: 'viewer' }))
      .body.secret;
    expect((await call('GET', `/v1/accounts/${id}/tenants`)).status).toBe(401);
    expect(
      (await call('GET', `/v1/accounts/${id}/tenants`, 'mk_aaaaaaaaaaaa_' + 'a'.repeat(43))).status,
    ).toBe(401);
    expect((await call('GET', `/v1/accounts/${id}/tenants`, viewer)).status).toBe(200);
    const write = await call('POST', `/v1/accounts/${id}/tenants`, viewer, { name: 'nope' });
    expect(write.status).toBe(403);
    expect(
      (
        await call('POST', '/v1/accounts', ownerKey, {
          name: 'x',
          currency: 'USD',
          timezone: 'UTC',
          billingAnchorDay: 1,
        })
      ).status,
    ).toBe(403);
    const escalate = await call('POST', `/v1/accounts/${id}/management-keys`, viewer, { role: 'owner' });
    expect(escalate.status).toBe(403);
  });

  it("answers 404 for another account's objects on every endpoint that takes an id", async () => {
    const a = await newAccount('A');
    const b = await newAccount('B');
    const tenant = (await call('POST', `/v1/accounts/${a.id}/tenants`, a.ownerKey, { name: 'a-app' })).body;
    const key = (await call('POST', `/v1/tenants/${tenant.id}/api-keys`, a.ownerKey, { scopes: ['ingest'] }))
      .body;
    const probes: [string, string, unknown?][] = [
      ['GET', `/v1/accounts/${a.id}`],
      ['PATCH', `/v1/accounts/${a.id}`, { name: 'taken' }],
      ['POST', `/v1/accounts/${a.id}/tenants`, { name: 'intruder' }],
      ['GET', `/v1/accounts/${a.id}/tenants`],
      ['POST', `/v1/accounts/${a.id}/tenants/bulk`, { tenants: [{ name: 'intruder' }] }],
      ['GET', `/v1/tenants/${tenant.id}`],
      ['PATCH', `/v1/tenants/${tenant.id}`, { name: 'taken' }],
      ['DELETE', `/v1/tenants/${tenant.id}`],
      ['POST', `/v1/tenants/${tenant.id}/suspend`, {}],
      ['POST', `/v1/tenants/${tenant.id}/resume`],
      ['PUT', `/v1/tenants/${tenant.id}/limits`, { limits: { maxAgents: 0 } }],
      ['PUT', `/v1/tenants/${tenant.id}/features`, { features: { x: true } }],
      ['GET', `/v1/tenants/${tenant.id}/history`],
      ['POST', `/v1/tenants/${tenant.id}/api-keys`, { scopes: ['ingest'] }],
      ['GET', `/v1/tenants/${tenant.id}/api-keys`],
      ['POST', `/v1/api-keys/${key.id}/rotate`, {}],
      ['DELETE', `/v1/api-keys/${key.id}`],
      ['POST', '/v1/templates', { accountId: a.id, name: 't', limits: {} }],
      ['POST', `/v1/accounts/${a.id}/management-keys`, { role: 'viewer' }],
      ['GET', `/v1/accounts/${a.id}/management-keys`],
    ];
    for (const [method, path, body] of probes) {
      const res = await call(method, path, b.ownerKey, body);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 });
    }
    // Nothing changed for A.
    expect((await call('GET', `/v1/tenants/${tenant.id}`, a.ownerKey)).body).toMatchObject({
      name: 'a-app',
      status: 'active',
      version: 1,
    });
    expect(
      (await call('GET', '/v1/accounts', b.ownerKey)).body.items.map((x: { id: string }) => x.id),
    ).toEqual([b.id]);
    expect((await call('GET', '/v1/templates', b.ownerKey)).body.items).toEqual([]);
  });

  it('verifies keys over gRPC; a revoked key fails within the cache TTL; deletion revokes keys at once', async () => {
    const { id, ownerKey } = await newAccount();
    const tenant = (await call('POST', `/v1/accounts/${id}/tenants`, ownerKey, { name: 'app' })).body;
    const issued = (await call('POST', `/v1/tenants/${tenant.id}/api-keys`, ownerKey, { scopes: ['ingest'] }))
      .body;
    expect(issued.secret).toMatch(/^ak_/);
    const listed = await call('GET', `/v1/tenants/${tenant.id}/api-keys`, ownerKey);
    expect(JSON.stringify(listed.body)).not.toContain(issued.secret);
    const grpcApi = grpcClient();
    try {
      expect(await grpcApi.verify(issued.secret)).toMatchObject({
        valid: true,
        tenantId: tenant.id,
        accountId: id,
        tenantStatus: 'active',
      });
      expect(await grpcApi.verify(issued.secret, 'read')).toMatchObject({ valid: false, reason: 'scope' });
      expect(await grpcApi.verify(`${issued.secret}x`)).toMatchObject({ valid: false });
      expect((await grpcApi.getTenant(tenant.id)).id).toBe(tenant.id);

      const revokedAt = Date.now();
      expect((await call('DELETE', `/v1/api-keys/${issued.id}`, ownerKey)).status).toBe(200);
      await eventually(async () => ((await grpcApi.verify(issued.secret)).valid ? undefined : true), {
        timeoutMs: 6_000,
      });
      expect(Date.now() - revokedAt).toBeLessThanOrEqual(5_000 + 500);

      const second = (
        await call('POST', `/v1/tenants/${tenant.id}/api-keys`, ownerKey, { scopes: ['ingest'] })
      ).body;
      const rotated = (
        await call('POST', `/v1/api-keys/${second.id}/rotate`, ownerKey, { overlapSeconds: 60 })
      ).body;
      expect((await grpcApi.verify(second.secret)).valid).toBe(true);
      expect((await grpcApi.verify(rotated.secret)).valid).toBe(true);
      await call('DELETE', `/v1/tenants/${tenant.id}`, ownerKey);
      await eventually(async () => ((await grpcApi.verify(rotated.secret)).valid ? undefined : true), {
        timeoutMs: 6_000,
      });
      expect((await grpcApi.verify(second.secret)).reason).toBe('revoked');
    } finally {
      grpcApi.close();
    }
  });

  it('publishes every change on registry.events.v1 with actor, account, tenant and correlation id', async () => {
    const { id, ownerKey } = await newAccount();
    const correlationId = uniqueName('corr');
    const tenant = (
      await call(
        'POST',
        `/v1/accounts/${id}/tenants`,
        ownerKey,
        { name: 'app' },
        { 'x-correlation-id': correlationId },
      )
    ).body;
    const kafka = new Kafka({
      brokers: kafkaBrokers(),
      clientId: 'e2e-registry',
      logLevel: logLevel.NOTHING,
    });
    const consumer = kafka.consumer({ groupId: uniqueName('e2e'), maxWaitTimeInMs: 500 });
    const found: any[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: 'registry.events.v1', fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const event = JSON.parse(message.value!.toString());
        if (event.tenantId === tenant.id) found.push({ ...event, key: message.key?.toString() });
      },
    });
    try {
      const [event] = await eventually(() => (found.length ? found : undefined), { timeoutMs: 30_000 });
      expect(event).toMatchObject({
        type: 'tenant.created',
        key: id,
        accountId: id,
        tenantId: tenant.id,
        correlationId,
        source: 'tenant-registry',
        actor: { type: 'management-key' },
      });
    } finally {
      await consumer.disconnect();
    }
  });

  it('keeps no plaintext secret in the database', async () => {
    const { id, ownerKey } = await newAccount();
    const tenant = (await call('POST', `/v1/accounts/${id}/tenants`, ownerKey, { name: 'app' })).body;
    const apiKey = (await call('POST', `/v1/tenants/${tenant.id}/api-keys`, ownerKey, { scopes: ['ingest'] }))
      .body.secret as string;
    const dump = execFileSync(
      'pg_dump',
      ['--data-only', `${stackVar('POSTGRES_URL')}/metering_tenant_registry`],
      {
        encoding: 'utf8',
        maxBuffer: 512 * 1024 * 1024,
      },
    );
    expect(dump).toContain(tenant.id);
    for (const secret of [apiKey, ownerKey, stackVar('ADMIN_KEY')]) {
      expect(dump).not.toContain(secret);
      // The random part alone (after `ak_<id>_` / `mk_<id>_`) must not appear either.
      expect(dump).not.toContain(secret.slice('ak_'.length + 12 + 1));
    }
  });
});
