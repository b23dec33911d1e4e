import { randomUUID } from 'node:crypto';
import { api } from './http';
import { serviceUrl } from './services';
import { eventually, stackVar, uniqueName } from './stack';

/** A CloudEvent for `api.call` (meter api_calls), with overridable fields. */
export function apiCallEvent(patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: 'e2e://producer',
    type: 'api.call',
    time: new Date().toISOString(),
    data: { route: '/v1/things' },
    ...patch,
  };
}

export interface IngestBody {
  accepted: number;
  duplicates: number;
  rejected: { index: number; id: string | null; reasons: string[] }[];
}

/** Posts a batch to ingestion's `POST /v1/events` with a tenant API key. */
export async function postEvents(
  ingestionUrl: string,
  events: unknown[],
  apiKey: string,
): Promise<{ status: number; body: IngestBody }> {
  const res = await fetch(`${ingestionUrl}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents-batch+json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify(events),
  });
  return { status: res.status, body: (await res.json()) as IngestBody };
}

export interface ProvisionedAccount {
  accountId: string;
  ownerKey: string;
  tenants: { tenantId: string; apiKey: string }[];
}

/** A new account with `count` tenants, each with an `ingest` API key, through the registry's API. */
export async function provisionTenants(count: number): Promise<ProvisionedAccount> {
  const registry = serviceUrl('tenant-registry');
  const admin = stackVar('ADMIN_KEY');
  const account = await api<{ id: string }>(registry, 'POST', '/v1/accounts', {
    key: admin,
    body: { name: uniqueName('account'), currency: 'USD', timezone: 'UTC', billingAnchorDay: 1 },
  });
  const owner = await api<{ secret: string }>(
    registry,
    'POST',
    `/v1/accounts/${account.body.id}/management-keys`,
    {
      key: admin,
      body: { role: 'owner' },
    },
  );
  const created = await api<{ tenants: { id: string }[] }>(
    registry,
    'POST',
    `/v1/accounts/${account.body.id}/tenants/bulk`,
    {
      key: owner.body.secret,
      body: { tenants: Array.from({ length: count }, (_, i) => ({ name: `tenant-${i}` })) },
    },
  );
  const tenants = [];
  for (const { id } of created.body.tenants) {
    const key = await api<{ secret: string }>(registry, 'POST', `/v1/tenants/${id}/api-keys`, {
      key: owner.body.secret,
      body: { scopes: ['ingest'] },
    });
    tenants.push({ tenantId: id, apiKey: key.body.secret });
  }
  return { accountId: account.body.id, ownerKey: owner.body.secret, tenants };
}

/** A tenant's usage of one meter as aggregation answers it (read with the platform admin key). */
export async function tenantUsage(
  tenantId: string,
  meter = 'api_calls',
): Promise<{ value: string; events: number; [field: string]: unknown }> {
  const res = await api<{ value: string; events: number }>(
    serviceUrl('aggregation'),
    'GET',
    `/v1/usage?meter=${meter}&tenantId=${encodeURIComponent(tenantId)}`,
    { key: stackVar('ADMIN_KEY') },
  );
  if (res.status !== 200)
    throw new Error(`GET /v1/usage answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Waits until aggregation counts exactly `expected` events of the tenant for the meter. */
export function untilUsageEvents(
  tenantId: string,
  expected: number,
  meter = 'api_calls',
  timeoutMs = 30_000,
): Promise<true> {
  return eventually(
    async () => ((await tenantUsage(tenantId, meter)).events === expected ? true : undefined),
    {
      timeoutMs,
      what: `${expected} ${meter} events of ${tenantId} in ClickHouse`,
    },
  );
}
