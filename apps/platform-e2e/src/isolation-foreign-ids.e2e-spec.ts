import { randomUUID } from 'node:crypto';
import { api, apiCallEvent, postEvents, stackVar, type ServiceName } from '@metering/testing';
import { billedPeriod, catalogPlan, targetUrl, tenancy, type Tenancy } from './hostile-fixtures';

/** A request that names one of A's objects, by path or by a query or body field. */
interface Probe {
  service: ServiceName;
  method: string;
  path: string;
  body?: unknown;
}

/**
 * Objects of the platform's catalog, which every account reads and only platform admins change:
 * not another account's, so not answered 404. Each documented path with a parameter is either
 * probed below or listed here.
 */
const CATALOG_PATHS = new Set([
  'GET /v1/meters/:_',
  'GET /v1/plans/:_',
  'GET /v1/plans/:_/versions/:_',
  'POST /v1/plans/:_/versions',
]);

const shapeOf = (method: string, path: string) =>
  `${method} ${path
    .split('?')[0]
    .replace(/\{\w+\}/g, ':_')
    .replace(/(acc|ten|tpl|ak|inv)_[\w-]+/g, ':_')}`;

describe('isolation: another account’s ids', () => {
  let a: Tenancy;
  let b: Tenancy;
  let invoiceId: string;
  let planId: string;
  /** Written into A's objects: no answer to B may contain it. */
  const marker = `a-private-${randomUUID()}`;

  const as = (key: string, { service, method, path, body }: Probe) =>
    api(targetUrl(service), method, path, { key, body });

  beforeAll(async () => {
    [a, b] = await Promise.all([tenancy(1), tenancy(1)]);
    planId = await catalogPlan();
    invoiceId = await billedPeriod(a.accountId, a.ownerKey, planId);
    const renamed = await as(a.ownerKey, {
      service: 'tenant-registry',
      method: 'PATCH',
      path: `/v1/tenants/${a.tenants[0].tenantId}`,
      body: { name: marker, profile: { companyName: marker } },
    });
    expect(renamed.status).toBe(200);
    expect(
      (await postEvents(targetUrl('ingestion'), [apiCallEvent({ subject: marker })], a.tenants[0].apiKey))
        .status,
    ).toBe(202);
  });

  /** Every endpoint that takes an id of an account's own object, pointed at A's. */
  function probes(): Probe[] {
    const account = a.accountId;
    const tenant = a.tenants[0].tenantId;
    const apiKey = a.apiKeyIds[0];
    const r = (method: string, path: string, body?: unknown): Probe => ({
      service: 'tenant-registry',
      method,
      path,
      body,
    });
    return [
      r('GET', `/v1/accounts/${account}`),
      r('PATCH', `/v1/accounts/${account}`, { name: 'taken' }),
      r('POST', `/v1/accounts/${account}/tenants`, { name: 'intruder' }),
      r('GET', `/v1/accounts/${account}/tenants`),
      r('POST', `/v1/accounts/${account}/tenants/bulk`, { tenants: [{ name: 'intruder' }] }),
      r('GET', `/v1/tenants/${tenant}`),
      r('PATCH', `/v1/tenants/${tenant}`, { name: 'taken' }),
      r('DELETE', `/v1/tenants/${tenant}`),
      r('POST', `/v1/tenants/${tenant}/suspend`, {}),
      r('POST', `/v1/tenants/${tenant}/resume`),
      r('PUT', `/v1/tenants/${tenant}/limits`, { limits: { maxAgents: 0 } }),
      r('PUT', `/v1/tenants/${tenant}/features`, { features: { x: true } }),
      r('GET', `/v1/tenants/${tenant}/history`),
      r('POST', `/v1/tenants/${tenant}/api-keys`, { scopes: ['ingest'] }),
      r('GET', `/v1/tenants/${tenant}/api-keys`),
      r('POST', `/v1/api-keys/${apiKey}/rotate`, { overlapSeconds: 0 }),
      r('DELETE', `/v1/api-keys/${apiKey}`),
      r('POST', '/v1/templates', { accountId: account, name: 'intruder', limits: {} }),
      r('GET', `/v1/templates?accountId=${account}`),
      r('POST', `/v1/accounts/${account}/management-keys`, { role: 'viewer' }),
      r('GET', `/v1/accounts/${account}/management-keys`),
      { service: 'aggregation', method: 'GET', path: `/v1/usage?meter=api_calls&accountId=${account}` },
      { service: 'aggregation', method: 'GET', path: `/v1/usage?meter=mau&tenantId=${tenant}` },
      {
        service: 'aggregation',
        method: 'GET',
        path: `/v1/usage?meter=mau&accountId=${b.accountId}&tenantId=${tenant}`,
      },
      { service: 'aggregation', method: 'GET', path: `/v1/accounts/${account}/quotas` },
      { service: 'aggregation', method: 'GET', path: `/v1/tenants/${tenant}/quotas` },
      {
        service: 'aggregation',
        method: 'POST',
        path: '/v1/entitlements/check',
        body: { tenantId: tenant, key: 'api_calls' },
      },
      { service: 'aggregation', method: 'GET', path: `/v1/reconciliation?accountId=${account}` },
      {
        service: 'billing',
        method: 'PUT',
        path: `/v1/accounts/${account}/subscription`,
        body: { planId, planVersion: 1 },
      },
      { service: 'billing', method: 'GET', path: `/v1/accounts/${account}/subscription` },
      { service: 'billing', method: 'GET', path: `/v1/accounts/${account}/invoices` },
      { service: 'billing', method: 'GET', path: `/v1/accounts/${account}/invoices.csv` },
      { service: 'billing', method: 'GET', path: `/v1/accounts/${account}/upcoming-invoice` },
      {
        service: 'billing',
        method: 'PUT',
        path: `/v1/tenants/${tenant}/subscription`,
        body: { mode: 'tenant', planId, planVersion: 1 },
      },
      { service: 'billing', method: 'DELETE', path: `/v1/tenants/${tenant}/subscription` },
      { service: 'billing', method: 'GET', path: `/v1/tenants/${tenant}/subscription` },
      { service: 'billing', method: 'GET', path: `/v1/tenants/${tenant}/upcoming-invoice` },
      { service: 'billing', method: 'GET', path: `/v1/invoices/${invoiceId}` },
      { service: 'billing', method: 'POST', path: `/v1/invoices/${invoiceId}/finalize` },
      {
        service: 'billing',
        method: 'POST',
        path: `/v1/invoices/${invoiceId}/void`,
        body: { reason: 'intruder' },
      },
      { service: 'audit', method: 'GET', path: `/v1/audit?accountId=${account}` },
      { service: 'audit', method: 'GET', path: `/v1/audit?tenantId=${tenant}` },
      { service: 'audit', method: 'GET', path: `/v1/audit/export?accountId=${account}` },
      { service: 'audit', method: 'GET', path: `/v1/audit/export?tenantId=${tenant}` },
      { service: 'audit', method: 'GET', path: `/v1/audit/verify?accountId=${account}` },
      { service: 'audit', method: 'GET', path: `/v1/audit/head?accountId=${account}` },
      { service: 'audit', method: 'GET', path: `/v1/audit/retention?accountId=${account}` },
      {
        service: 'audit',
        method: 'PUT',
        path: '/v1/audit/retention',
        body: { accountId: account, retentionDays: 1 },
      },
      { service: 'audit', method: 'GET', path: `/v1/audit/tenants/${tenant}` },
      { service: 'audit', method: 'GET', path: `/v1/audit/tenants/${tenant}/export` },
    ];
  }

  it('probes every documented endpoint whose path names an object of an account', async () => {
    const probed = new Set(probes().map((p) => shapeOf(p.method, p.path)));
    for (const service of ['tenant-registry', 'ingestion', 'aggregation', 'billing', 'audit'] as const) {
      const doc = (await (await fetch(`${targetUrl(service)}/docs/openapi.json`)).json()) as {
        paths: Record<string, Record<string, unknown>>;
      };
      const unprobed = Object.entries(doc.paths)
        .filter(([path]) => path.includes('{'))
        .flatMap(([path, ops]) => Object.keys(ops).map((m) => shapeOf(m.toUpperCase(), path)))
        .filter((op) => !probed.has(op) && !CATALOG_PATHS.has(op));
      expect({ service, unprobed }).toEqual({ service, unprobed: [] });
    }
  });

  it('answers each of A’s ids with 404 to B’s owner, an error body and nothing of A’s', async () => {
    const wrong = [];
    for (const probe of probes()) {
      const res = await fetch(`${targetUrl(probe.service)}${probe.path}`, {
        method: probe.method,
        headers: { authorization: `Bearer ${b.ownerKey}`, 'content-type': 'application/json' },
        body: probe.body === undefined ? undefined : JSON.stringify(probe.body),
      });
      const text = await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      const errorOnly =
        typeof body === 'object' &&
        body !== null &&
        Object.keys(body).join() === 'error' &&
        !text.includes(marker);
      if (res.status !== 404 || !errorOnly)
        wrong.push({ ...probe, status: res.status, answer: text.slice(0, 200) });
    }
    expect(wrong).toEqual([]);
  });

  it('leaves A’s objects as they were', async () => {
    const get = (service: ServiceName, path: string) => as(a.ownerKey, { service, method: 'GET', path });
    expect((await get('tenant-registry', `/v1/tenants/${a.tenants[0].tenantId}`)).body).toMatchObject({
      name: marker,
      status: 'active',
      version: 2,
    });
    expect((await get('tenant-registry', `/v1/accounts/${a.accountId}`)).body).toMatchObject({ version: 1 });
    expect((await get('tenant-registry', `/v1/accounts/${a.accountId}/tenants`)).body.items).toHaveLength(1);
    expect((await get('tenant-registry', `/v1/templates?accountId=${a.accountId}`)).body.items).toHaveLength(
      1,
    );
    expect(
      (await get('tenant-registry', `/v1/tenants/${a.tenants[0].tenantId}/api-keys`)).body.items,
    ).toEqual([expect.objectContaining({ id: a.apiKeyIds[0], revokedAt: null, expiresAt: null })]);
    expect((await postEvents(targetUrl('ingestion'), [apiCallEvent()], a.tenants[0].apiKey)).status).toBe(
      202,
    );
    expect((await get('billing', `/v1/invoices/${invoiceId}`)).body).toMatchObject({ status: 'draft' });
    expect((await get('billing', `/v1/accounts/${a.accountId}/subscription`)).body.phases).toHaveLength(1);
    expect((await get('audit', `/v1/audit/retention?accountId=${a.accountId}`)).body).toMatchObject({
      retentionDays: null,
    });
  });

  it('lets B read the shared catalog, and change it only as a platform admin', async () => {
    const catalog = [
      { service: 'aggregation', method: 'GET', path: '/v1/meters/api_calls' },
      { service: 'billing', method: 'GET', path: `/v1/plans/${planId}` },
      { service: 'billing', method: 'GET', path: `/v1/plans/${planId}/versions/1` },
    ] as const;
    for (const probe of catalog)
      expect({ ...probe, status: (await as(b.ownerKey, probe)).status }).toEqual({ ...probe, status: 200 });
    const version = { currency: 'USD', baseFee: '1.00', meters: [], gracePeriodHours: 1 };
    const writes: Probe[] = [
      { service: 'billing', method: 'POST', path: `/v1/plans/${planId}/versions`, body: version },
      { service: 'billing', method: 'POST', path: '/v1/billing-runs', body: { accountId: a.accountId } },
      {
        service: 'aggregation',
        method: 'POST',
        path: '/v1/meters',
        body: { key: 'intruder', eventType: 'x', aggregation: 'COUNT' },
      },
    ];
    for (const probe of writes)
      expect({ ...probe, status: (await as(b.ownerKey, probe)).status }).toEqual({ ...probe, status: 403 });
    expect(
      (await as(stackVar('ADMIN_KEY'), { service: 'billing', method: 'GET', path: `/v1/plans/${planId}` }))
        .body.latestVersion,
    ).toBe(1);
  });
});
