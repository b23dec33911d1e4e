import { api, apiCallEvent, eventually, postEvents, provisionTenants, serviceUrl } from '@metering/testing';

// A change normally reaches ingestion within a second (registry.events.v1); without the event it
// would take at most the two key-check caches' TTLs (registry and ingestion, 5 s each).
const PROPAGATION_MS = 11_000;

const ingestion = serviceUrl('ingestion');
const registry = serviceUrl('tenant-registry');

describe('ingestion authentication and tenant state', () => {
  it('refuses a request without a key, with an unknown key, or with a key lacking the ingest scope', async () => {
    const { ownerKey, tenants } = await provisionTenants(1);
    const missing = await api(ingestion, 'POST', '/v1/events', { body: [apiCallEvent()] });
    expect([missing.status, missing.body.error.code]).toEqual([401, 'missing_api_key']);
    const unknown = await postEvents(ingestion, [apiCallEvent()], `${tenants[0].apiKey.slice(0, -4)}AAAA`);
    expect([unknown.status, (unknown.body as any).error.code]).toEqual([401, 'invalid_api_key']);
    const readKey = await api(registry, 'POST', `/v1/tenants/${tenants[0].tenantId}/api-keys`, {
      key: ownerKey,
      body: { scopes: ['read'] },
    });
    const wrongScope = await postEvents(ingestion, [apiCallEvent()], readKey.body.secret);
    expect([wrongScope.status, (wrongScope.body as any).error.code]).toEqual([403, 'insufficient_scope']);
  });

  it('takes the tenant from the key and rejects an event that names another tenant', async () => {
    const { tenants } = await provisionTenants(2);
    const res = await postEvents(
      ingestion,
      [apiCallEvent(), apiCallEvent({ tenantid: tenants[1].tenantId })],
      tenants[0].apiKey,
    );
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      accepted: 1,
      rejected: [{ index: 1, reasons: [expect.stringMatching(/^tenantid/)] }],
    });
  });

  it('refuses a suspended tenant, accepts it again once resumed, and refuses it once deleted', async () => {
    const { ownerKey, tenants } = await provisionTenants(1);
    const [{ tenantId, apiKey }] = tenants as [{ tenantId: string; apiKey: string }];
    expect((await postEvents(ingestion, [apiCallEvent()], apiKey)).status).toBe(202);

    await api(registry, 'POST', `/v1/tenants/${tenantId}/suspend`, { key: ownerKey, body: {} });
    const refused = await eventually(
      async () => {
        const res = await postEvents(ingestion, [apiCallEvent()], apiKey);
        return res.status === 403 ? res : undefined;
      },
      { timeoutMs: PROPAGATION_MS, what: 'suspension to reach ingestion' },
    );
    expect((refused.body as any).error.code).toBe('tenant_suspended');

    await api(registry, 'POST', `/v1/tenants/${tenantId}/resume`, { key: ownerKey });
    await eventually(
      async () => ((await postEvents(ingestion, [apiCallEvent()], apiKey)).status === 202 ? true : undefined),
      {
        timeoutMs: PROPAGATION_MS,
        what: 'resumption to reach ingestion',
      },
    );

    await api(registry, 'DELETE', `/v1/tenants/${tenantId}`, { key: ownerKey });
    const gone = await eventually(
      async () => {
        const res = await postEvents(ingestion, [apiCallEvent()], apiKey);
        return res.status !== 202 ? res : undefined;
      },
      { timeoutMs: PROPAGATION_MS, what: 'deletion to reach ingestion' },
    );
    expect(['invalid_api_key', 'tenant_deleted']).toContain((gone.body as any).error.code);
  });
});
