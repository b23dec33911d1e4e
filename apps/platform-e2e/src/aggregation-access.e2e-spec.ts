import { api, provisionTenants, serviceUrl, stackVar, type ProvisionedAccount } from '@metering/testing';

const aggregation = serviceUrl('aggregation');

describe('aggregation access', () => {
  let a: ProvisionedAccount;
  let b: ProvisionedAccount;
  let viewerKey: string;

  beforeAll(async () => {
    [a, b] = await Promise.all([provisionTenants(1), provisionTenants(1)]);
    const viewer = await api<{ secret: string }>(
      serviceUrl('tenant-registry'),
      'POST',
      `/v1/accounts/${a.accountId}/management-keys`,
      { key: a.ownerKey, body: { role: 'viewer' } },
    );
    viewerKey = viewer.body.secret;
  });

  const usage = (query: string, key?: string) =>
    api(aggregation, 'GET', `/v1/usage?meter=api_calls&${query}`, { key });

  it('refuses requests without a valid management key', async () => {
    expect((await usage(`accountId=${a.accountId}`)).status).toBe(401);
    expect((await usage(`accountId=${a.accountId}`, 'mk_notakey_x')).status).toBe(401);
    expect((await api(aggregation, 'GET', '/v1/meters')).status).toBe(401);
  });

  it("lets an account's viewer read its account's and its tenants' usage and the meter catalog", async () => {
    expect((await usage(`accountId=${a.accountId}`, viewerKey)).status).toBe(200);
    expect((await usage(`tenantId=${a.tenants[0].tenantId}`, viewerKey)).status).toBe(200);
    const meters = await api<{ meters: { key: string }[] }>(aggregation, 'GET', '/v1/meters', {
      key: viewerKey,
    });
    expect(meters.body.meters.map((m) => m.key)).toEqual(
      expect.arrayContaining(['api_calls', 'mau', 'pcc', 'storage_mb', 'video_minutes', 'voice_minutes']),
    );
  });

  it("answers another account's account or tenant as not found", async () => {
    expect((await usage(`accountId=${b.accountId}`, a.ownerKey)).body).toMatchObject({
      error: { code: 'account_not_found' },
    });
    const foreignTenant = await usage(`tenantId=${b.tenants[0].tenantId}`, a.ownerKey);
    expect(foreignTenant.status).toBe(404);
    const mixed = await usage(`accountId=${a.accountId}&tenantId=${b.tenants[0].tenantId}`, a.ownerKey);
    expect(mixed.status).toBe(404);
  });

  it('lets a platform admin read any account', async () => {
    expect((await usage(`accountId=${b.accountId}`, stackVar('ADMIN_KEY'))).status).toBe(200);
  });

  it('names the field of a query without account or tenant', async () => {
    expect((await usage('', a.ownerKey)).body).toMatchObject({ error: { details: { field: 'accountId' } } });
  });
});
