import fc from 'fast-check';
import { BillingCalendar } from '@metering/billing-math';
import {
  api,
  apiCallEvent,
  eventually,
  postEvents,
  provisionTenants,
  serviceUrl,
  stackVar,
  uniqueName,
  type ProvisionedAccount,
  type ServiceName,
} from '@metering/testing';

/**
 * Where a service under attack answers: the stack's, unless `E2E_URL_<SERVICE>` (e.g.
 * `E2E_URL_TENANT_REGISTRY`) names another instance of it, such as one started from a newer build.
 */
export function targetUrl(name: ServiceName): string {
  return process.env[`E2E_URL_${name.toUpperCase().replace(/-/g, '_')}`] ?? serviceUrl(name);
}

/** Strings that broke services somewhere: control and format characters, broken UTF-16, injections. */
export const NASTY_TEXT = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\uD800',
  'x\uDFFFy',
  '\uDBFF\uDBFF',
  '\u0001\u0002\u001f\u007f',
  '\u0085\u009f',
  '\u2028\u2029',
  '\r\n\tX-Injected: 1',
  '\u202Egnp.exe',
  '\uFEFFbom',
  'e\u0301\u0301\u0301',
  '😀👩‍👩‍👧‍👦🏳️‍🌈',
  '\u{10FFFF}\u{E0001}',
  "'; DROP TABLE tenants; --",
  '" OR "1"="1',
  '\\',
  '\\u0000',
  '%00',
  '%',
  '../../etc/passwd',
  '..%2F..%2F',
  '${jndi:ldap://127.0.0.1/a}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  'NaN',
  'Infinity',
  '-0',
  '1e309',
  '9'.repeat(40),
  '__proto__',
  'constructor',
  'x'.repeat(300),
  'ü'.repeat(3000),
];

export const hostileText = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_TEXT) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }) },
);

/** Text an API may store: it must then read it back exactly as sent (no trimming, no normalization). */
export const storableText = (text: string): boolean =>
  !text.includes('\u0000') && Buffer.from(text, 'utf8').toString('utf8') === text;

/**
 * Short non-empty text from every corner of Unicode: any code point (controls, format characters,
 * astral planes), graphemes, the strings above, and unpaired surrogates in between.
 */
export const anyText = (maxLength = 20): fc.Arbitrary<string> =>
  fc
    .oneof(
      { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength }) },
      {
        weight: 1,
        arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: Math.ceil(maxLength / 4) }),
      },
      {
        weight: 2,
        arbitrary: fc.constantFrom(...NASTY_TEXT.filter((t) => t.length >= 1 && t.length <= maxLength)),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.string({ unit: 'binary', maxLength: 5 }), fc.integer({ min: 0xd800, max: 0xdfff }))
          .map(([text, half]) => `${text}${String.fromCharCode(half)}`),
      },
    )
    .filter((text) => text.length <= 2 * maxLength);

/**
 * Ingestion publishes what it accepts to the aggregation sink, and ClickHouse refuses unpaired
 * surrogates: were ingestion to accept an event with one, the sink would retry its batch forever.
 * This asks in a way that cannot do that harm (an event of a type no meter counts is never
 * published) and fails unless the request is refused, naming the field. Call it before sending
 * events that may carry unpaired surrogates.
 */
export async function expectUnpairedSurrogatesRefused(apiKey: string): Promise<void> {
  const probe = apiCallEvent({ type: `${uniqueName('unmetered')}.probe`, subject: 'user\uD800' });
  const { status, body } = await postEvents(targetUrl('ingestion'), [probe], apiKey);
  if (status !== 400 || !JSON.stringify(body).includes('"field":"0.subject"')) {
    throw new Error(
      `ingestion answered ${status} ${JSON.stringify(body)} to an unpaired surrogate; events with them would wedge the aggregation sink`,
    );
  }
}

/** An account as its callers see it: a key per role and one object of each kind it owns. */
export interface Tenancy extends ProvisionedAccount {
  viewerKey: string;
  templateId: string;
  /** The id of each tenant's ingest key, in the order of `tenants`. */
  apiKeyIds: string[];
}

async function created<T>(what: string, answer: Promise<{ status: number; body: T }>): Promise<T> {
  const { status, body } = await answer;
  if (status >= 300) throw new Error(`${what} answered ${status}: ${JSON.stringify(body)}`);
  return body;
}

/** A new account with `tenantCount` tenants (each with an ingest key), a viewer key and a template. */
export async function tenancy(tenantCount = 1): Promise<Tenancy> {
  const registry = serviceUrl('tenant-registry');
  const account = await provisionTenants(tenantCount);
  const key = account.ownerKey;
  const viewer = await created(
    'a viewer key',
    api<{ secret: string }>(registry, 'POST', `/v1/accounts/${account.accountId}/management-keys`, {
      key,
      body: { role: 'viewer' },
    }),
  );
  const template = await created(
    'a template',
    api<{ id: string }>(registry, 'POST', '/v1/templates', {
      key,
      body: { accountId: account.accountId, name: 'standard', limits: {} },
    }),
  );
  const apiKeyIds = [];
  for (const { tenantId } of account.tenants) {
    const keys = await created(
      'the api keys',
      api<{ items: { id: string }[] }>(registry, 'GET', `/v1/tenants/${tenantId}/api-keys`, { key }),
    );
    apiKeyIds.push(keys.items[0].id);
  }
  return { ...account, viewerKey: viewer.secret, templateId: template.id, apiKeyIds };
}

/** A plan in the catalog: 10.00 a month, api_calls beyond 4 at 1.00 each; its id. */
export async function catalogPlan(): Promise<string> {
  const id = uniqueName('plan').toLowerCase();
  await created(
    'a plan',
    api(serviceUrl('billing'), 'POST', '/v1/plans', {
      key: stackVar('ADMIN_KEY'),
      body: {
        id,
        name: 'Hostile e2e',
        currency: 'USD',
        baseFee: '10.00',
        meters: [{ meterKey: 'api_calls', included: '4', overage: { type: 'PER_UNIT', unitPrice: '1.00' } }],
        gracePeriodHours: 35 * 24,
      },
    }),
  );
  return id;
}

/**
 * Subscribes the account to `planId` from the start of its last ended period and bills that
 * period: the id of the draft invoice.
 */
export async function billedPeriod(accountId: string, ownerKey: string, planId: string): Promise<string> {
  const billing = serviceUrl('billing');
  // Anchored two days ago (at most the 28th), so the last period ended recently.
  const anchorDay = Math.min(new Date(Date.now() - 2 * 86_400_000).getUTCDate(), 28);
  const calendar = new BillingCalendar({ anchorDay, timeZone: 'UTC' });
  const last = calendar.previous(calendar.periodAt(Date.now()));
  await created(
    'a subscription',
    api(billing, 'PUT', `/v1/accounts/${accountId}/subscription`, {
      key: ownerKey,
      body: { planId, planVersion: 1, startAt: new Date(last.startMs).toISOString(), anchorDay },
    }),
  );
  await created(
    'a billing run',
    api(billing, 'POST', '/v1/billing-runs', {
      key: stackVar('ADMIN_KEY'),
      body: { asOf: new Date().toISOString(), accountId },
    }),
  );
  const { invoices } = await created(
    'the invoices',
    api<{ invoices: { id: string }[] }>(billing, 'GET', `/v1/accounts/${accountId}/invoices`, {
      key: ownerKey,
    }),
  );
  if (invoices.length !== 1) throw new Error(`expected one invoice, found ${invoices.length}`);
  return invoices[0].id;
}

/**
 * A public address (example.com's, as webhooks.e2e-spec.ts uses) for webhook endpoints on the
 * stack's instance, which refuses private ones. No test waits for a delivery to it to arrive.
 */
export const PUBLIC_HOOK_URL = 'https://93.184.215.14/hooks';

/** An account's webhook endpoints and a delivery, for requests that name them. */
export interface Webhooks {
  endpointId: string;
  /** One more endpoint, for requests that delete it. */
  doomedEndpointId: string;
  /** A delivery to `endpointId`, of the tenant's update. */
  deliveryId: string;
}

/**
 * Two webhook endpoints of the account on the stack's webhooks service, and a delivery to the first:
 * of `tenant.updated`, by renaming the account's tenant.
 */
export async function webhookDelivery(
  accountId: string,
  ownerKey: string,
  tenantId: string,
): Promise<Webhooks> {
  const webhooks = targetUrl('webhooks');
  const root = `/v1/accounts/${accountId}/webhook-endpoints`;
  const endpoint = (eventTypes: string[], description: string) =>
    created(
      'a webhook endpoint',
      api<{ id: string }>(webhooks, 'POST', root, {
        key: ownerKey,
        body: { url: `${PUBLIC_HOOK_URL}/${description}`, eventTypes, description },
      }),
    );
  const { id: endpointId } = await endpoint(['tenant.updated'], 'fuzzed');
  const { id: doomedEndpointId } = await endpoint(['tenant.purged'], 'doomed');
  await created(
    'a tenant update',
    api(serviceUrl('tenant-registry'), 'PATCH', `/v1/tenants/${tenantId}`, {
      key: ownerKey,
      body: { name: 'webhooks fixture' },
    }),
  );
  const delivery = await eventually(
    async () => {
      const { body } = await api<{ deliveries?: { id: string }[] }>(
        webhooks,
        'GET',
        `${root}/${endpointId}/deliveries`,
        { key: ownerKey },
      );
      return body.deliveries?.[0];
    },
    { timeoutMs: 30_000, what: 'a webhook delivery of tenant.updated' },
  );
  return { endpointId, doomedEndpointId, deliveryId: delivery.id };
}
