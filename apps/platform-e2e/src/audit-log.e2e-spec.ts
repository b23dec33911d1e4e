import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import type { Producer } from 'kafkajs';
import {
  api,
  eventually,
  kafkaBrokers,
  provisionTenants,
  serviceUrl,
  uniqueName,
  type ProvisionedAccount,
} from '@metering/testing';
import {
  adminKey,
  auditDatabase,
  auditGet,
  auditUrl,
  domainEvent,
  newAccountId,
  producer,
  type EntryPage,
} from './audit-fixtures';

const registry = serviceUrl('tenant-registry');

/** The account's entries once there are at least `n`. */
const entriesOf = (accountId: string, n: number, key = adminKey()) =>
  eventually(
    async () => {
      const res = await auditGet(`/v1/audit?accountId=${accountId}&limit=1000`, key);
      const page = res.body as EntryPage;
      return res.status === 200 && page.entries.length >= n ? page.entries : undefined;
    },
    { what: `${n} audit entries of ${accountId}` },
  );

describe('audit log', () => {
  let kafka: Producer;
  let a: ProvisionedAccount;
  let b: ProvisionedAccount;
  let viewerKey: string;

  beforeAll(async () => {
    kafka = await producer();
    [a, b] = await Promise.all([provisionTenants(2), provisionTenants(1)]);
    const viewer = await api<{ secret: string }>(
      registry,
      'POST',
      `/v1/accounts/${a.accountId}/management-keys`,
      {
        key: a.ownerKey,
        body: { role: 'viewer' },
      },
    );
    viewerKey = viewer.body.secret;
  });

  afterAll(() => kafka.disconnect());

  it("records the registry's actions with who did them, chained, and the chain verifies", async () => {
    // account, owner key, 2 tenants, 2 API keys, viewer key
    const entries = await entriesOf(a.accountId, 7);
    expect(entries.map((e) => e.action).sort()).toEqual(
      expect.arrayContaining([
        'account.created',
        'tenant.created',
        'api_key.issued',
        'management_key.issued',
      ]),
    );
    expect(entries[0]).toMatchObject({
      accountId: a.accountId,
      actor: { type: 'management-key' },
      source: 'tenant-registry',
      target: expect.objectContaining({ type: expect.any(String), id: expect.any(String) }),
      prevHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => entries.length - i));
    const verify = await auditGet(`/v1/audit/verify?accountId=${a.accountId}`);
    expect(verify.body).toMatchObject({ ok: true, entries: entries.length, signedHead: { kind: 'head' } });
  });

  it('stores an event delivered twice once, and the chain verifies', async () => {
    const accountId = newAccountId();
    const event = domainEvent(accountId);
    const message = { key: accountId, value: JSON.stringify(event) };
    await kafka.send({ topic: 'quota.events.v1', acks: -1, messages: [message, message] });
    await entriesOf(accountId, 1);
    // Redelivered later, with a newer event after it: only the new one is added.
    const next = domainEvent(accountId);
    await kafka.send({
      topic: 'quota.events.v1',
      acks: -1,
      messages: [message, { key: accountId, value: JSON.stringify(next) }],
    });
    const entries = await entriesOf(accountId, 2);
    expect(entries.map((e) => e.eventId)).toEqual([next.eventId, event.eventId]);
    expect((await auditGet(`/v1/audit/verify?accountId=${accountId}`)).body).toMatchObject({
      ok: true,
      entries: 2,
    });
  });

  it('dead-letters malformed and unknown events with the reason and keeps the partition moving', async () => {
    const accountId = newAccountId();
    const dlq = uniqueName('dlq-reader');
    // Dead letters are delivered at least once: keyed by the offset they came from.
    const bySource = new Map<string, string>();
    const consumer = new Kafka({
      brokers: kafkaBrokers(),
      clientId: dlq,
      logLevel: logLevel.NOTHING,
    }).consumer({
      groupId: dlq,
      maxWaitTimeInMs: 500,
    });
    await consumer.connect();
    await consumer.subscribe({ topic: 'quota.events.dlq.v1', fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.key?.toString() !== accountId) return;
        const source = `${String(message.headers?.['x-dlq-source-partition'])}:${String(message.headers?.['x-dlq-source-offset'])}`;
        bySource.set(source, String(message.headers?.['x-dlq-reason']));
      },
    });
    try {
      const good = domainEvent(accountId);
      await kafka.send({
        topic: 'quota.events.v1',
        acks: -1,
        messages: [
          { key: accountId, value: '{not json' },
          { key: accountId, value: JSON.stringify(domainEvent(accountId, { schemaVersion: 9 })) },
          {
            key: accountId,
            value: JSON.stringify(domainEvent(accountId, { actor: { type: 'robot', id: 'x' } })),
          },
          { key: accountId, value: JSON.stringify(good) },
        ],
      });
      const entries = await entriesOf(accountId, 1);
      expect(entries.map((e) => e.eventId)).toEqual([good.eventId]);
      await eventually(() => (bySource.size >= 3 ? true : undefined), { what: 'three dead letters' });
      // Contract failures are dead-lettered as they are read, the log's refusals after the batch.
      const reasons = [...bySource.values()];
      expect(reasons).toHaveLength(3);
      expect(reasons).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/not JSON/),
          expect.stringMatching(/^contract DomainEventEnvelope: actor\.type/),
          expect.stringMatching(/^schemaVersion: unsupported version 9/),
        ]),
      );
    } finally {
      await consumer.disconnect();
    }
  });

  it('fails verification at the entry a superuser edited in the database', async () => {
    const accountId = newAccountId();
    await kafka.send({
      topic: 'quota.events.v1',
      acks: -1,
      messages: Array.from({ length: 5 }, () => ({
        key: accountId,
        value: JSON.stringify(domainEvent(accountId)),
      })),
    });
    await entriesOf(accountId, 5);
    const db = await auditDatabase();
    try {
      await expect(
        db.query(`UPDATE audit_entries SET action = 'quota.reset' WHERE account_id = $1 AND seq = 3`, [
          accountId,
        ]),
      ).rejects.toThrow(/append-only/);
      await db.query('BEGIN');
      await db.query('SET LOCAL session_replication_role = replica');
      await db.query(
        `UPDATE audit_entries SET change = '{"threshold":0.1}' WHERE account_id = $1 AND seq = 3`,
        [accountId],
      );
      await db.query('COMMIT');
    } finally {
      await db.end();
    }
    expect((await auditGet(`/v1/audit/verify?accountId=${accountId}`)).body).toMatchObject({
      ok: false,
      entries: 2,
      firstBroken: { seq: 3, reason: 'hash_mismatch' },
    });
  });

  it('checks that a head exported earlier is still part of the chain', async () => {
    await entriesOf(a.accountId, 7);
    const head = (await auditGet(`/v1/audit/head?accountId=${a.accountId}`)).body;
    expect(head).toMatchObject({ kind: 'head', accountId: a.accountId, algorithm: 'Ed25519' });
    const ok = await auditGet(
      `/v1/audit/verify?accountId=${a.accountId}&anchorSeq=${head.seq}&anchorHash=${head.hash}`,
    );
    expect(ok.body).toMatchObject({ ok: true, anchorChecked: true });
    const forged = await auditGet(
      `/v1/audit/verify?accountId=${a.accountId}&anchorSeq=${head.seq}&anchorHash=${'0'.repeat(64)}`,
    );
    expect(forged.body).toMatchObject({
      ok: false,
      firstBroken: { seq: head.seq, reason: 'anchor_mismatch' },
    });
  });

  it("answers another account's log as not found and keeps an account role to its own", async () => {
    await entriesOf(b.accountId, 1);
    for (const path of [
      `/v1/audit?accountId=${b.accountId}`,
      `/v1/audit/export?accountId=${b.accountId}`,
      `/v1/audit/verify?accountId=${b.accountId}`,
      `/v1/audit/tenants/${b.tenants[0].tenantId}`,
    ]) {
      expect({ path, status: (await auditGet(path, a.ownerKey)).status }).toEqual({ path, status: 404 });
    }
    const own = (await auditGet('/v1/audit?limit=1000', a.ownerKey)).body as EntryPage;
    expect(new Set(own.entries.map((e) => e.accountId))).toEqual(new Set([a.accountId]));
    expect((await auditGet('/v1/audit', 'mk_notakey_x')).status).toBe(401);
  });

  it('lets a viewer read, verify and export, but not change retention', async () => {
    await entriesOf(a.accountId, 7);
    expect((await auditGet('/v1/audit', viewerKey)).status).toBe(200);
    expect((await auditGet('/v1/audit/verify', viewerKey)).body).toMatchObject({ ok: true });
    const res = await fetch(`${auditUrl}/v1/audit/export?format=csv`, {
      headers: { authorization: `Bearer ${viewerKey}` },
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await res.text()).trim().split('\r\n');
    expect(lines[0]).toMatch(/^id,account_id,seq,event_id,time/);
    expect(lines.length - 1).toBeGreaterThanOrEqual(7);
    const put = await api(auditUrl, 'PUT', '/v1/audit/retention', {
      key: viewerKey,
      body: { retentionDays: 30 },
    });
    expect(put.status).toBe(403);
  });

  it('lets a platform admin read every account', async () => {
    await Promise.all([entriesOf(a.accountId, 7), entriesOf(b.accountId, 1)]);
    const accounts = new Set<string>();
    let cursor: string | null = null;
    // Newest first across accounts: the two accounts' entries are among the latest pages.
    for (let i = 0; i < 20 && !(accounts.has(a.accountId) && accounts.has(b.accountId)); i++) {
      const res = await auditGet(`/v1/audit?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
      const page = res.body as EntryPage;
      page.entries.forEach((e) => accounts.add(e.accountId));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect([accounts.has(a.accountId), accounts.has(b.accountId)]).toEqual([true, true]);
  });

  it("gives a tenant's operation log to its account's roles", async () => {
    const tenantId = a.tenants[1].tenantId;
    const log = await eventually(
      async () => {
        const res = await auditGet(`/v1/audit/tenants/${tenantId}`, viewerKey);
        return res.status === 200 && (res.body as EntryPage).entries.length >= 2
          ? (res.body as EntryPage)
          : undefined;
      },
      { what: 'tenant log' },
    );
    expect(new Set(log.entries.map((e) => e.tenantId))).toEqual(new Set([tenantId]));
    expect(log.entries.map((e) => e.action)).toEqual(
      expect.arrayContaining(['tenant.created', 'api_key.issued']),
    );
    const ndjson = await fetch(`${auditUrl}/v1/audit/tenants/${tenantId}/export`, {
      headers: { authorization: `Bearer ${a.ownerKey}` },
    });
    const rows = (await ndjson.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => r.eventId)).toEqual(log.entries.map((e) => e.eventId).reverse());
  });

  it('keeps audit entries when a tenant is purged', async () => {
    const accountId = newAccountId();
    const tenantId = uniqueName('ten_e2e');
    const registryEvent = (type: string, version: number, data: object) => ({
      ...domainEvent(accountId, {
        type,
        tenantId,
        aggregateType: 'tenant',
        aggregateId: tenantId,
        aggregateVersion: version,
        actor: { type: 'system', id: 'purge' },
        source: 'tenant-registry',
        data,
      }),
    });
    const events = [
      registryEvent('tenant.created', 1, { name: 'x' }),
      registryEvent('tenant.deleted', 2, { deletedAt: new Date().toISOString() }),
      registryEvent('tenant.purged', 3, { purgedAt: new Date().toISOString() }),
    ];
    await kafka.send({
      topic: 'registry.events.v1',
      acks: -1,
      messages: events.map((e) => ({ key: accountId, value: JSON.stringify(e) })),
    });
    const log = await eventually(
      async () => {
        const res = await auditGet(`/v1/audit/tenants/${tenantId}`);
        return (res.body as EntryPage).entries?.length === 3 ? (res.body as EntryPage) : undefined;
      },
      { what: 'purged tenant log' },
    );
    expect(log.entries.map((e) => e.action)).toEqual(['tenant.purged', 'tenant.deleted', 'tenant.created']);
  });

  it('names the field of a malformed filter', async () => {
    const cases: [string, string][] = [
      ['from=yesterday', 'from'],
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['actorType=robot', 'actorType'],
      ['action=Tenant%20*', 'action'],
      [`cursor=${randomUUID()}`, 'cursor'],
      ['from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'to'],
      ['accountId=a%20b', 'accountId'],
      ['bogus=1', 'bogus'],
    ];
    for (const [query, field] of cases) {
      const res = await auditGet(`/v1/audit?${query}`, a.ownerKey);
      expect({ query, status: res.status, fields: JSON.stringify(res.body.error.details) }).toEqual({
        query,
        status: 400,
        fields: expect.stringContaining(`"field":"${field}"`),
      });
    }
    const verify = await auditGet('/v1/audit/verify');
    expect(verify.status).toBe(400);
    expect(JSON.stringify(verify.body.error.details)).toContain('"field":"accountId"');
    const anchor = await auditGet(`/v1/audit/verify?accountId=${a.accountId}&anchorSeq=1`);
    expect(JSON.stringify(anchor.body.error.details)).toContain('"field":"anchorHash"');
    const format = await auditGet('/v1/audit/export?format=xml', a.ownerKey);
    expect(JSON.stringify(format.body.error.details)).toContain('"field":"format"');
  });

  it('sets retention per account for its administrators, recorded in the chain', async () => {
    const put = await api(auditUrl, 'PUT', '/v1/audit/retention', {
      key: a.ownerKey,
      body: { retentionDays: 3650 },
    });
    expect(put.body).toEqual({ accountId: a.accountId, retentionDays: 3650 });
    expect((await auditGet('/v1/audit/retention', viewerKey)).body).toEqual({
      accountId: a.accountId,
      retentionDays: 3650,
    });
    const entries = await entriesOf(a.accountId, 8);
    expect(entries[0]).toMatchObject({ action: 'audit.retention_changed', source: 'audit' });
    const bad = await api(auditUrl, 'PUT', '/v1/audit/retention', {
      key: a.ownerKey,
      body: { retentionDays: 0 },
    });
    expect(JSON.stringify(bad.body.error.details)).toContain('"field":"retentionDays"');
    expect((await auditGet(`/v1/audit/verify?accountId=${a.accountId}`)).body).toMatchObject({ ok: true });
  });
});
