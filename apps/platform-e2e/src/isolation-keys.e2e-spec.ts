import {
  api,
  apiCallEvent,
  postEvents,
  tenantUsage,
  untilUsageEvents,
  type ServiceName,
} from '@metering/testing';
import { billedPeriod, catalogPlan, targetUrl, tenancy, type Tenancy } from './hostile-fixtures';

/**
 * How long a key check may be reused: the registry's cache and ingestion's, 5 s each by default
 * (KEY_CACHE_TTL_MS). A revocation also reaches both at once over registry.events.v1; this is the
 * bound without it.
 */
const KEY_CACHE_TTLS_MS = 5_000 + 5_000;

const ingestion = () => targetUrl('ingestion');

/** Posts one event every 50 ms until the key is refused; how long that took, from `sinceMs`. */
async function msUntilRefused(apiKey: string, sinceMs: number, limitMs: number): Promise<number> {
  for (;;) {
    const { status } = await postEvents(ingestion(), [apiCallEvent()], apiKey);
    const elapsed = Date.now() - sinceMs;
    if (status === 401) return elapsed;
    if (status !== 202) throw new Error(`ingestion answered ${status} to a key not yet refused`);
    if (elapsed > limitMs) throw new Error(`the key still worked ${elapsed} ms after it should have stopped`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Once refused, the key stays refused (no cache still holding it answers otherwise). */
async function expectStaysRefused(apiKey: string): Promise<void> {
  for (let i = 0; i < 10; i++) {
    expect((await postEvents(ingestion(), [apiCallEvent()], apiKey)).status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('isolation: keys', () => {
  let a: Tenancy;
  let b: Tenancy;

  beforeAll(async () => {
    [a, b] = await Promise.all([tenancy(2), tenancy(1)]);
  });

  const issueIngestKey = async (tenantId: string) => {
    const issued = await api<{ id: string; secret: string }>(
      targetUrl('tenant-registry'),
      'POST',
      `/v1/tenants/${tenantId}/api-keys`,
      { key: a.ownerKey, body: { scopes: ['ingest'] } },
    );
    expect(issued.status).toBe(201);
    return issued.body;
  };

  it("writes with a tenant's ingest key count for that tenant only, never for another of its account or of another account", async () => {
    const [own, sibling] = a.tenants;
    const [foreign] = b.tenants;
    const events = [
      apiCallEvent(),
      apiCallEvent({ tenantid: sibling.tenantId }),
      apiCallEvent({ tenantid: foreign.tenantId }),
      apiCallEvent({ tenantid: own.tenantId }),
    ];
    const res = await postEvents(ingestion(), events, own.apiKey);
    expect(res.body).toMatchObject({
      accepted: 2,
      rejected: [
        { index: 1, reasons: [expect.stringMatching(/^tenantid/)] },
        { index: 2, reasons: [expect.stringMatching(/^tenantid/)] },
      ],
    });
    await untilUsageEvents(own.tenantId, 2);
    expect((await tenantUsage(sibling.tenantId)).events).toBe(0);
    expect((await tenantUsage(foreign.tenantId)).events).toBe(0);
  });

  it('refuses an ingest key wherever a management key is required', async () => {
    const key = a.tenants[0].apiKey;
    const reads: [ServiceName, string][] = [
      ['tenant-registry', `/v1/accounts/${a.accountId}`],
      ['aggregation', `/v1/usage?meter=api_calls&tenantId=${a.tenants[0].tenantId}`],
      ['billing', `/v1/accounts/${a.accountId}/invoices`],
      ['audit', `/v1/audit/tenants/${a.tenants[0].tenantId}`],
    ];
    for (const [service, path] of reads) {
      expect({ path, status: (await api(targetUrl(service), 'GET', path, { key })).status }).toEqual({
        path,
        status: 401,
      });
    }
  });

  it('lets a viewer read but not write, on every service, and nothing changes', async () => {
    const tenant = a.tenants[0].tenantId;
    const invoiceId = await billedPeriod(a.accountId, a.ownerKey, await catalogPlan());
    const writes: [ServiceName, string, string, unknown?][] = [
      ['tenant-registry', 'PATCH', `/v1/accounts/${a.accountId}`, { name: 'viewer was here' }],
      ['tenant-registry', 'POST', `/v1/accounts/${a.accountId}/tenants`, { name: 'viewer' }],
      [
        'tenant-registry',
        'POST',
        `/v1/accounts/${a.accountId}/tenants/bulk`,
        { tenants: [{ name: 'viewer' }] },
      ],
      ['tenant-registry', 'PATCH', `/v1/tenants/${tenant}`, { name: 'viewer' }],
      ['tenant-registry', 'DELETE', `/v1/tenants/${tenant}`],
      ['tenant-registry', 'POST', `/v1/tenants/${tenant}/suspend`, {}],
      ['tenant-registry', 'POST', `/v1/tenants/${tenant}/resume`],
      ['tenant-registry', 'PUT', `/v1/tenants/${tenant}/limits`, { limits: { maxAgents: 0 } }],
      ['tenant-registry', 'PUT', `/v1/tenants/${tenant}/features`, { features: { x: true } }],
      ['tenant-registry', 'POST', `/v1/tenants/${tenant}/api-keys`, { scopes: ['ingest'] }],
      ['tenant-registry', 'POST', `/v1/api-keys/${a.apiKeyIds[0]}/rotate`, { overlapSeconds: 0 }],
      ['tenant-registry', 'DELETE', `/v1/api-keys/${a.apiKeyIds[0]}`],
      ['tenant-registry', 'POST', '/v1/templates', { accountId: a.accountId, name: 'viewer', limits: {} }],
      ['tenant-registry', 'POST', `/v1/accounts/${a.accountId}/management-keys`, { role: 'viewer' }],
      [
        'aggregation',
        'POST',
        '/v1/meters',
        { key: 'viewer_meter', eventType: 'viewer.x', aggregation: 'COUNT' },
      ],
      ['billing', 'PUT', `/v1/accounts/${a.accountId}/subscription`, { planId: 'x', planVersion: 1 }],
      [
        'billing',
        'PUT',
        `/v1/tenants/${tenant}/subscription`,
        { mode: 'tenant', planId: 'x', planVersion: 1 },
      ],
      ['billing', 'DELETE', `/v1/tenants/${tenant}/subscription`],
      ['billing', 'POST', `/v1/invoices/${invoiceId}/finalize`],
      ['billing', 'POST', `/v1/invoices/${invoiceId}/void`, { reason: 'viewer' }],
      [
        'billing',
        'POST',
        '/v1/plans',
        { name: 'viewer', currency: 'USD', baseFee: '1', meters: [], gracePeriodHours: 1 },
      ],
      ['billing', 'POST', '/v1/billing-runs', { accountId: a.accountId }],
      ['audit', 'PUT', '/v1/audit/retention', { retentionDays: 1 }],
    ];
    const allowed = [];
    for (const [service, method, path, body] of writes) {
      const res = await api(targetUrl(service), method, path, { key: a.viewerKey, body });
      if (res.status !== 403) allowed.push({ service, method, path, status: res.status });
    }
    expect(allowed).toEqual([]);
    // The viewer reads what it may not change.
    const read = (service: ServiceName, path: string) =>
      api(targetUrl(service), 'GET', path, { key: a.viewerKey });
    expect((await read('tenant-registry', `/v1/tenants/${tenant}`)).body).toMatchObject({
      status: 'active',
      version: 1,
    });
    expect((await read('tenant-registry', `/v1/accounts/${a.accountId}`)).body).toMatchObject({ version: 1 });
    expect((await read('tenant-registry', `/v1/tenants/${tenant}/api-keys`)).body.items).toHaveLength(1);
    expect((await read('billing', `/v1/invoices/${invoiceId}`)).body).toMatchObject({ status: 'draft' });
    expect((await read('audit', `/v1/audit/retention`)).body).toMatchObject({ retentionDays: null });
  });

  it('stops a revoked key within the key caches’ TTL', async () => {
    const key = await issueIngestKey(a.tenants[1].tenantId);
    // Checked once, so both caches hold it as valid.
    expect((await postEvents(ingestion(), [apiCallEvent()], key.secret)).status).toBe(202);
    const revokedAt = Date.now();
    const revoked = await api(targetUrl('tenant-registry'), 'DELETE', `/v1/api-keys/${key.id}`, {
      key: a.ownerKey,
    });
    expect(revoked.status).toBe(200);
    const ms = await msUntilRefused(key.secret, revokedAt, KEY_CACHE_TTLS_MS + 1_000);
    console.info(`revoked key refused by ingestion after ${ms} ms (bound ${KEY_CACHE_TTLS_MS} ms)`);
    await expectStaysRefused(key.secret);
  });

  it('stops a rotated-out key within the key caches’ TTL after its overlap ends, and keeps its successor', async () => {
    const overlapSeconds = 2;
    const key = await issueIngestKey(a.tenants[1].tenantId);
    expect((await postEvents(ingestion(), [apiCallEvent()], key.secret)).status).toBe(202);
    const rotatedAt = Date.now();
    const rotated = await api<{ secret: string }>(
      targetUrl('tenant-registry'),
      'POST',
      `/v1/api-keys/${key.id}/rotate`,
      { key: a.ownerKey, body: { overlapSeconds } },
    );
    expect(rotated.status).toBe(201);
    // Both work during the overlap.
    expect((await postEvents(ingestion(), [apiCallEvent()], key.secret)).status).toBe(202);
    expect((await postEvents(ingestion(), [apiCallEvent()], rotated.body.secret)).status).toBe(202);
    const overlapEnd = rotatedAt + overlapSeconds * 1000;
    const ms = await msUntilRefused(key.secret, overlapEnd, KEY_CACHE_TTLS_MS + 1_000);
    console.info(
      `rotated-out key refused by ingestion ${ms} ms after its overlap ended (bound ${KEY_CACHE_TTLS_MS} ms)`,
    );
    await expectStaysRefused(key.secret);
    expect((await postEvents(ingestion(), [apiCallEvent()], rotated.body.secret)).status).toBe(202);
  });

  it('stops a key rotated without overlap within the key caches’ TTL', async () => {
    const key = await issueIngestKey(a.tenants[1].tenantId);
    expect((await postEvents(ingestion(), [apiCallEvent()], key.secret)).status).toBe(202);
    const rotatedAt = Date.now();
    const rotated = await api(targetUrl('tenant-registry'), 'POST', `/v1/api-keys/${key.id}/rotate`, {
      key: a.ownerKey,
      body: { overlapSeconds: 0 },
    });
    expect(rotated.status).toBe(201);
    const ms = await msUntilRefused(key.secret, rotatedAt, KEY_CACHE_TTLS_MS + 1_000);
    console.info(
      `key rotated without overlap refused by ingestion after ${ms} ms (bound ${KEY_CACHE_TTLS_MS} ms)`,
    );
    await expectStaysRefused(key.secret);
  });
});
