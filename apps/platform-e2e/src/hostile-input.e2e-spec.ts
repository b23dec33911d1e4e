import { randomUUID } from 'node:crypto';
import { createConnection } from 'node:net';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import {
  SERVICE_PORTS,
  apiCallEvent,
  isAlive,
  postEvents,
  servicePid,
  stackVar,
  uniqueName,
  type ServiceName,
} from '@metering/testing';
import {
  PUBLIC_HOOK_URL,
  billedPeriod,
  catalogPlan,
  expectUnpairedSurrogatesRefused,
  hostileText,
  targetUrl,
  tenancy,
  webhookDelivery,
  type Tenancy,
} from './hostile-fixtures';

/**
 * Generated requests per endpoint: about a minute for the whole file. `HOSTILE_RUNS` searches
 * longer; a failure prints its seed and path, which replay it (fast-check's `seed` and `path`).
 */
const RUNS_PER_ENDPOINT = Number(process.env.HOSTILE_RUNS ?? 100);

/** The services whose public API is attacked here. */
const SERVICES: ServiceName[] = [
  'tenant-registry',
  'ingestion',
  'aggregation',
  'billing',
  'audit',
  'webhooks',
  'dashboard',
];

type Caller = 'admin' | 'owner' | 'ingest' | 'nobody';

/** One public endpoint and a valid request to it, which the fuzzing starts from and mangles. */
interface Endpoint {
  service: ServiceName;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** With `:name` parameters, each filled from {@link Ids} or replaced by a hostile segment. */
  path: string;
  as: Caller;
  body?: unknown;
  query?: Record<string, string>;
  contentType?: string;
  /** Keeps a generated body from harming others (it stays as hostile otherwise). */
  confine?: (body: Record<string, unknown>) => Record<string, unknown>;
}

/** The objects the endpoints' parameters name (the fuzzing's own, so anything may happen to them). */
type Ids = Record<string, string>;

// ---- the requests ----------------------------------------------------------------------------

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileText },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constantFrom(-1, 0, 2 ** 31, 2 ** 53, -(2 ** 63), 1e308, 0.1),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.array(hostileText, { maxLength: 3 }),
      fc.dictionary(hostileText, hostileText, { maxKeys: 3 }),
      fc.jsonValue({ maxDepth: 3 }),
    ),
  },
);

/** Raw bodies that are not (quite) JSON, or JSON that parsers and walkers choke on. */
const RAW_BODIES = [
  '',
  '{',
  '[1,',
  '{"a":}',
  'tru',
  'null',
  '""',
  '0',
  '\u0000',
  '\uFEFF{}',
  '{"a":1,"a":2}',
  '{"a":1e999999}',
  '{"__proto__":{"admin":true},"constructor":{"prototype":{"polluted":true}}}',
  '{"a":"\\ud800"}',
  '{"a\\u0000":1}',
  '['.repeat(50_000) + ']'.repeat(50_000),
  '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000),
  `[${'0,'.repeat(100_000)}0]`,
];

/** A valid value, mangled: fields kept, dropped or replaced, unknown fields added, at every level. */
function mangled(valid: unknown, depth = 0): fc.Arbitrary<unknown> {
  if (typeof valid === 'number') {
    // Numbers at the edges of the types they end up in (int4, int8, doubles).
    const edges = fc.constantFrom(0, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 1e308, 0.5, -0);
    return fc.oneof(
      { weight: 3, arbitrary: fc.constant(valid) },
      { weight: 2, arbitrary: edges },
      { weight: 1, arbitrary: hostileValue },
    );
  }
  if (valid === null || typeof valid !== 'object' || depth > 3) {
    return fc.oneof({ weight: 3, arbitrary: fc.constant(valid) }, { weight: 2, arbitrary: hostileValue });
  }
  if (Array.isArray(valid)) {
    return fc.oneof(
      { weight: 3, arbitrary: fc.tuple(...valid.map((v) => mangled(v, depth + 1))) },
      { weight: 1, arbitrary: hostileValue },
    );
  }
  const fields = Object.fromEntries(
    Object.entries(valid as Record<string, unknown>).map(([k, v]) => [
      k,
      fc.oneof(
        { weight: 4, arbitrary: mangled(v, depth + 1) },
        { weight: 1, arbitrary: fc.constant(undefined) },
      ),
    ]),
  );
  return fc
    .tuple(fc.record(fields), fc.dictionary(hostileText, hostileValue, { maxKeys: 2 }), fc.nat(9))
    .map(([known, extra, dice]) => ({ ...(dice === 0 ? extra : {}), ...known }));
}

type Place = (string | number)[];

/** Every field and item of a value, by its path. */
function placesOf(value: unknown, path: Place = []): Place[] {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const place = [...path, Array.isArray(value) ? Number(k) : k];
    return [place, ...placesOf(v, place)];
  });
}

const REMOVED = Symbol('removed');

/**
 * A valid value with one field or item changed (to an edge or hostile value) or removed. The rest
 * stays valid, so the change gets past the first check and meets the rules behind it.
 */
function oneFieldOff(valid: unknown): fc.Arbitrary<unknown> {
  const places = placesOf(valid);
  if (!places.length) return mangled(valid);
  return fc.constantFrom(...places).chain((place) => {
    const original = place.reduce<any>((v, k) => v[k], valid);
    return fc
      .oneof(
        { weight: 4, arbitrary: mangled(original, 4) },
        { weight: 1, arbitrary: fc.constant<unknown>(REMOVED) },
      )
      .map((replacement) => {
        const copy = structuredClone(valid) as Record<string | number, unknown>;
        const parent = place.slice(0, -1).reduce<any>((v, k) => v[k], copy);
        const key = place[place.length - 1];
        if (replacement !== REMOVED) parent[key] = replacement;
        else if (Array.isArray(parent)) parent.splice(Number(key), 1);
        else delete parent[key];
        return copy;
      });
  });
}

/** A body as sent: JSON, kept from harming others by the endpoint's `confine`. */
const confined = (value: unknown, confine: Endpoint['confine']): string | undefined =>
  value === undefined
    ? undefined
    : JSON.stringify(
        confine && value !== null && typeof value === 'object' && !Array.isArray(value)
          ? confine(value as Record<string, unknown>)
          : value,
      );

function bodyText(valid: unknown, confine: Endpoint['confine']): fc.Arbitrary<string | undefined> {
  const text = (v: unknown) => confined(v, confine);
  return fc.oneof(
    { weight: 4, arbitrary: oneFieldOff(valid).map(text) },
    { weight: 3, arbitrary: mangled(valid).map(text) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map(text) },
    { weight: 1, arbitrary: fc.constantFrom(...RAW_BODIES) },
  );
}

/** Percent-encodes the UTF-8 of any string (unpaired surrogates become U+FFFD, as any client sends them). */
const pct = (text: string) =>
  [...Buffer.from(text, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9._~-]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).padStart(2, '0').toUpperCase()}`,
    )
    .join('');

const RAW_SEGMENTS = ['%', '%ZZ', '%00', '%ED%A0%80', '..', '.', 'x%2Fy', '%2e%2e', ';', 'x'.repeat(5000)];

const segment = (valid: string) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(valid) },
    { weight: 2, arbitrary: hostileText.map(pct) },
    { weight: 1, arbitrary: fc.constantFrom(...RAW_SEGMENTS) },
  );

function queryText(valid: Record<string, string> = {}): fc.Arbitrary<string> {
  const pairs = fc.tuple(
    fc.oneof(oneFieldOff(valid), mangled(valid)),
    fc.array(fc.tuple(hostileText, hostileText), { maxLength: 2 }),
    fc.array(
      fc.constantFrom(
        'a[]=1&a[]=2',
        'limit[]=1',
        'x[__proto__][y]=1',
        'limit=1&limit=2',
        '%ZZ=1',
        '&&=&',
        'a=%',
      ),
      { maxLength: 1 },
    ),
  );
  return pairs.map(([known, extra, raw]) => queryString(known, extra, raw));
}

function queryString(known: unknown, extra: [string, string][] = [], raw: string[] = []): string {
  const parts: string[] = [];
  if (known && typeof known === 'object' && !Array.isArray(known)) {
    for (const [k, v] of Object.entries(known)) {
      if (v !== undefined) parts.push(`${pct(k)}=${pct(typeof v === 'string' ? v : JSON.stringify(v))}`);
    }
  }
  for (const [k, v] of extra) parts.push(`${pct(k)}=${pct(v)}`);
  parts.push(...raw);
  return parts.length ? `?${parts.join('&')}` : '';
}

/** Header values a client can send (no CR, LF or NUL; bytes up to 0xFF). */
const headerText = fc.string({
  unit: fc
    .integer({ min: 0x20, max: 0xff })
    .filter((c) => c !== 0x7f)
    .map((c) => String.fromCharCode(c)),
  maxLength: 60,
});

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/json; charset=bogus',
  'application/cloudevents+json',
  'application/cloudevents-batch+json',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'text/plain',
  'application/*',
  ';;',
];

interface Fuzzed {
  path: string;
  body: string | undefined;
  headers: Record<string, string>;
}

function requests(endpoint: Endpoint, ids: Ids, keys: Record<Caller, string>): fc.Arbitrary<Fuzzed> {
  const names = [...endpoint.path.matchAll(/:(\w+)/g)].map((m) => m[1]);
  const key = keys[endpoint.as];
  const withBody = endpoint.body !== undefined || endpoint.method !== 'GET';
  const validBody = withBody ? confined(endpoint.body ?? {}, endpoint.confine) : undefined;
  return fc
    .record({
      // Mostly one part of the request is hostile and the rest valid, so each part's checks are
      // reached past the others'; sometimes all of it at once.
      focus: fc.constantFrom('path', 'query', 'body', 'body', 'headers', 'all'),
      segments: fc.tuple(...names.map((n) => segment(ids[n] ?? n))),
      query: queryText(endpoint.query),
      body: withBody ? bodyText(endpoint.body ?? {}, endpoint.confine) : fc.constant(undefined),
      contentType: fc.oneof(
        { weight: 5, arbitrary: fc.constant(endpoint.contentType ?? 'application/json') },
        { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
        { weight: 1, arbitrary: headerText },
        { weight: 1, arbitrary: fc.constant(undefined) },
      ),
      contentEncoding: fc.oneof(
        { weight: 12, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom('gzip', 'deflate', 'br', 'x-bogus', 'identity') },
      ),
      authorization: fc.oneof(
        { weight: 6, arbitrary: fc.constant(key ? `Bearer ${key}` : undefined) },
        {
          weight: 2,
          arbitrary: fc.constantFrom(
            undefined,
            'Bearer',
            'Bearer ',
            'Basic dXNlcjpwYXNz',
            `bearer ${key}`,
            `Bearer ${key} extra`,
            `Bearer ${key}x`,
            `Bearer  ${key}`,
            `Bearer ${'mk_'.padEnd(6000, 'a')}`,
            'Bearer ak_x_y',
            'Bearer mk_x_y',
          ),
        },
        { weight: 1, arbitrary: headerText.map((t) => `Bearer ${t}`) },
      ),
      idempotencyKey: fc.option(headerText, { nil: undefined }),
      correlationId: fc.option(fc.oneof(headerText, fc.constant('x'.repeat(500))), { nil: undefined }),
    })
    .map((r) => {
      const on = (part: string) => r.focus === part || r.focus === 'all';
      let path = endpoint.path;
      names.forEach((n, i) => (path = path.replace(`:${n}`, on('path') ? r.segments[i] : (ids[n] ?? n))));
      const body = on('body') ? r.body : validBody;
      const headers: Record<string, string> = {};
      const contentType = on('headers') ? r.contentType : (endpoint.contentType ?? 'application/json');
      if (body !== undefined && contentType !== undefined) headers['content-type'] = contentType;
      const authorization = on('headers') ? r.authorization : key && `Bearer ${key}`;
      if (authorization) headers.authorization = authorization;
      if (on('headers') && r.contentEncoding) headers['content-encoding'] = r.contentEncoding;
      if (on('headers') && r.idempotencyKey !== undefined) headers['idempotency-key'] = r.idempotencyKey;
      if (on('headers') && r.correlationId !== undefined) headers['x-correlation-id'] = r.correlationId;
      const query = on('query') ? r.query : queryString(endpoint.query);
      const request: Fuzzed = { path: `${path}${query}`, body, headers };
      // Counterexamples are printed shortened: some bodies are megabytes long.
      return Object.assign(request, { [fc.toStringMethod]: () => describeRequest(request) });
    });
}

const shortened = (text: string, max = 300) =>
  text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;

function describeRequest(request: Fuzzed): string {
  return JSON.stringify({
    path: shortened(request.path),
    body: request.body === undefined ? undefined : shortened(request.body),
    headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, shortened(v, 100)])),
  });
}

// ---- the answers -----------------------------------------------------------------------------

/** 400s about the body as a whole rather than a field of it. */
const WHOLE_BODY_CODES = new Set([
  'malformed_json',
  'malformed_body',
  'invalid_batch',
  'invalid_event',
  'unsupported_charset',
  'unsupported_encoding',
  'request_aborted',
]);

const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function fieldsNamed(details: unknown): string[] {
  if (Array.isArray(details)) {
    return details.flatMap((d) =>
      typeof (d as { field?: unknown })?.field === 'string' ? [(d as { field: string }).field] : [],
    );
  }
  const field = (details as { field?: unknown } | undefined)?.field;
  return typeof field === 'string' ? [field] : [];
}

/**
 * What every answer to a hostile request must be: below 500; an error in the one error shape,
 * a 400 naming the field it refuses; a correlation id that is safe to log.
 */
async function expectCleanAnswer(service: ServiceName, method: string, request: Fuzzed): Promise<number> {
  let res: Response;
  try {
    res = await fetch(`${targetUrl(service)}${request.path}`, {
      method,
      headers: request.headers,
      body: request.body,
      redirect: 'manual',
    });
  } catch (err) {
    throw new Error(`${service} ${method} ${request.path}: no answer (${(err as Error).message})`);
  }
  const text = await res.text();
  const seen = `${service} ${method} ${describeRequest(request)} → ${res.status} ${shortened(text)}`;
  if (res.status >= 500) throw new Error(seen);
  // Node's HTTP parser answers a request line and headers over its limit itself, before the app.
  if (res.status === 431) return res.status;
  if (!CORRELATION_ID.test(res.headers.get('x-correlation-id') ?? '')) {
    throw new Error(`${seen}: correlation id ${res.headers.get('x-correlation-id')}`);
  }
  if (res.status >= 400) {
    let body: { error?: { code?: unknown; message?: unknown; details?: unknown } };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new Error(`${seen}: not a JSON error body`);
    }
    const { code, message, details } = body.error ?? {};
    if (typeof code !== 'string' || typeof message !== 'string')
      throw new Error(`${seen}: not the error shape`);
    if (res.status === 400 && !WHOLE_BODY_CODES.has(code) && fieldsNamed(details).length === 0) {
      throw new Error(`${seen}: a 400 that names no field`);
    }
  }
  return res.status;
}

// ---- the endpoints ---------------------------------------------------------------------------

const now = () => new Date().toISOString();

/**
 * A cursor of the webhook delivery log as the service writes them: the delivery's creation time as
 * Postgres prints it and its id (`isoTime` may be any text in that place).
 */
const deliveryCursor = (isoTime: string) =>
  Buffer.from(JSON.stringify([isoTime.replace('T', ' ').replace(/Z$/, '+00'), randomUUID()])).toString(
    'base64url',
  );

/** An endpoint by its route (`GET /v1/usage`), with a sample request to start from. */
const op = (
  service: ServiceName,
  route: string,
  as: Caller,
  sample: Pick<Endpoint, 'body' | 'query' | 'contentType' | 'confine'> = {},
): Endpoint => {
  const [method, path] = route.split(' ');
  return { service, method: method as Endpoint['method'], path, as, ...sample };
};

function endpoints(): Endpoint[] {
  const profile = {
    companyName: 'Acme',
    companyWebsite: 'https://acme.example',
    adminContact: { name: 'Ada', email: 'ada@acme.example', phone: '+1 555 0100' },
    domain: 'acme.example.com',
    branding: { logoUrl: 'https://acme.example/logo.png', primaryColor: '#aabbcc' },
  };
  const placement = { deploymentModel: 'multi-tenant', hosting: 'platform', cell: 'eu-1' };
  const planVersion = {
    currency: 'USD',
    interval: 'month',
    baseFee: '10.00',
    meters: [
      {
        meterKey: 'api_calls',
        included: '4',
        overage: { type: 'GRADUATED', tiers: [{ upTo: '2', unitPrice: '1.00' }, { unitPrice: '0.50' }] },
        hardCap: '100',
      },
    ],
    tenantLimits: { maxAgents: 3 },
    gracePeriodHours: 72,
  };
  const filter = { actorType: 'management-key', action: 'tenant.', from: '2020-01-01T00:00:00Z', to: now() };
  const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
  const registry = 'tenant-registry';
  return [
    // tenant-registry: its own account (`r*` ids), so deletions and revocations spare the rest.
    op(registry, 'POST /v1/accounts', 'admin', {
      body: { name: 'Fuzz', currency: 'USD', timezone: 'UTC', billingAnchorDay: 1 },
    }),
    op(registry, 'GET /v1/accounts', 'owner', { query: { limit: '5', cursor: 'a' } }),
    op(registry, 'GET /v1/accounts/:rAccount', 'owner'),
    op(registry, 'PATCH /v1/accounts/:rAccount', 'owner', {
      body: { name: 'Fuzz', currency: 'EUR', timezone: 'Europe/Berlin', billingAnchorDay: 2 },
    }),
    op(registry, 'POST /v1/accounts/:rAccount/tenants', 'owner', {
      body: { name: 'app', templateId: 'TEMPLATE', profile, placement, limits: { maxAgents: 2 } },
    }),
    op(registry, 'POST /v1/accounts/:rAccount/tenants/bulk', 'owner', {
      body: {
        templateId: 'TEMPLATE',
        tenants: [{ name: 'bulk', features: { beta: true }, retentionDays: 30 }],
      },
    }),
    op(registry, 'GET /v1/accounts/:rAccount/tenants', 'owner', {
      query: { status: 'active', limit: '5', cursor: 'a' },
    }),
    op(registry, 'GET /v1/tenants/:rTenant', 'owner'),
    op(registry, 'PATCH /v1/tenants/:rTenant', 'owner', {
      body: { name: 'renamed', profile, placement, retentionDays: 10 },
    }),
    op(registry, 'DELETE /v1/tenants/:rDoomedTenant', 'owner'),
    op(registry, 'POST /v1/tenants/:rTenant/suspend', 'owner', { body: { reason: 'unpaid' } }),
    op(registry, 'POST /v1/tenants/:rTenant/resume', 'owner'),
    op(registry, 'PUT /v1/tenants/:rTenant/limits', 'owner', { body: { limits: { maxAgents: 3 } } }),
    op(registry, 'PUT /v1/tenants/:rTenant/features', 'owner', { body: { features: { beta: true } } }),
    op(registry, 'GET /v1/tenants/:rTenant/history', 'owner'),
    op(registry, 'POST /v1/tenants/:rTenant/api-keys', 'owner', {
      body: { scopes: ['ingest', 'read'], name: 'ci' },
    }),
    op(registry, 'GET /v1/tenants/:rTenant/api-keys', 'owner'),
    op(registry, 'POST /v1/api-keys/:rApiKey/rotate', 'owner', { body: { overlapSeconds: 60 } }),
    op(registry, 'DELETE /v1/api-keys/:rDoomedApiKey', 'owner'),
    op(registry, 'POST /v1/templates', 'owner', {
      body: {
        accountId: 'R_ACCOUNT',
        name: 'gold',
        limits: { maxAgents: 5 },
        features: {},
        placement,
        retentionDays: 90,
      },
    }),
    op(registry, 'GET /v1/templates', 'owner', { query: { accountId: 'R_ACCOUNT' } }),
    op(registry, 'POST /v1/accounts/:rAccount/management-keys', 'owner', {
      body: { role: 'viewer', name: 'dash' },
    }),
    op(registry, 'GET /v1/accounts/:rAccount/management-keys', 'owner'),
    // ingestion
    op('ingestion', 'POST /v1/events', 'ingest', {
      contentType: 'application/cloudevents-batch+json',
      body: [
        apiCallEvent({ subject: 'user-1', data: { route: '/v1/x', nested: { a: [1, 'b'] } } }),
        apiCallEvent({ type: 'call.voice.completed', data: { minutes: 3 } }),
      ],
    }),
    op('ingestion', 'POST /v1/events', 'ingest', {
      contentType: 'application/cloudevents+json',
      body: apiCallEvent({ datacontenttype: 'application/json' }),
    }),
    // aggregation
    op('aggregation', 'POST /v1/meters', 'admin', {
      body: {
        key: 'METER_KEY',
        name: 'Fuzzed',
        eventType: 'METER_TYPE',
        aggregation: 'MAX',
        valueProperty: 'n.v',
        groupBy: ['region'],
        pooling: 'sum-of-tenants',
        bucketSeconds: 60,
        allowNegative: false,
        lateEvents: 'adjust-next-invoice',
        unit: 'things',
      },
      // A created meter counts its event type for everyone: only this run's types.
      confine: (body) =>
        typeof body.eventType === 'string'
          ? { ...body, eventType: `${placeholders.METER_TYPE}.${body.eventType}` }
          : body,
    }),
    op('aggregation', 'GET /v1/meters', 'owner'),
    op('aggregation', 'GET /v1/meters/:meter', 'owner'),
    op('aggregation', 'GET /v1/usage', 'owner', {
      query: {
        meter: 'api_calls',
        accountId: 'M_ACCOUNT',
        tenantId: 'M_TENANT',
        from: hourAgo,
        to: now(),
        window: 'day',
      },
    }),
    op('aggregation', 'GET /v1/accounts/:mAccount/quotas', 'owner'),
    op('aggregation', 'GET /v1/tenants/:mTenant/quotas', 'owner'),
    op('aggregation', 'POST /v1/entitlements/check', 'owner', {
      body: { tenantId: 'M_TENANT', key: 'api_calls', quantity: 1.5 },
    }),
    op('aggregation', 'GET /v1/reconciliation', 'owner', {
      query: { accountId: 'M_ACCOUNT', from: hourAgo, to: now() },
    }),
    // billing
    op('billing', 'POST /v1/plans', 'admin', { body: { id: 'PLAN_ID', name: 'Fuzz plan', ...planVersion } }),
    op('billing', 'GET /v1/plans', 'owner'),
    op('billing', 'GET /v1/plans/:plan', 'owner'),
    op('billing', 'GET /v1/plans/:plan/versions/:version', 'owner'),
    op('billing', 'POST /v1/plans/:plan/versions', 'admin', { body: planVersion }),
    op('billing', 'PUT /v1/accounts/:mAccount/subscription', 'owner', {
      body: {
        planId: 'PLAN',
        planVersion: 1,
        effective: 'next-period',
        timezone: 'UTC',
        anchorDay: 1,
        startAt: now(),
      },
    }),
    op('billing', 'GET /v1/accounts/:mAccount/subscription', 'owner'),
    op('billing', 'GET /v1/accounts/:mAccount/invoices', 'owner', { query: { limit: '2', cursor: '0' } }),
    op('billing', 'GET /v1/accounts/:mAccount/invoices.csv', 'owner'),
    op('billing', 'GET /v1/accounts/:mAccount/upcoming-invoice', 'owner', { query: { asOf: now() } }),
    op('billing', 'PUT /v1/tenants/:mTenant/subscription', 'owner', {
      body: {
        mode: 'tenant',
        planId: 'PLAN',
        planVersion: 1,
        anchorDay: 1,
        timezone: 'UTC',
        effective: 'next-period',
      },
    }),
    op('billing', 'DELETE /v1/tenants/:mTenant/subscription', 'owner', { query: { effectiveAt: now() } }),
    op('billing', 'GET /v1/tenants/:mTenant/subscription', 'owner'),
    op('billing', 'GET /v1/tenants/:mTenant/upcoming-invoice', 'owner', { query: { asOf: now() } }),
    op('billing', 'GET /v1/invoices/:invoice', 'owner'),
    op('billing', 'POST /v1/invoices/:invoice/finalize', 'owner'),
    op('billing', 'POST /v1/invoices/:invoice/void', 'owner', { body: { reason: 'error' } }),
    op('billing', 'POST /v1/billing-runs', 'admin', {
      body: { asOf: now(), accountId: 'M_ACCOUNT' },
      // Billing runs for this run's account only.
      confine: (body) => ('accountId' in body ? body : { ...body, accountId: placeholders.M_ACCOUNT }),
    }),
    // audit
    op('audit', 'GET /v1/audit', 'owner', {
      query: { ...filter, accountId: 'M_ACCOUNT', tenantId: 'M_TENANT', actor: 'k', cursor: 'c', limit: '5' },
    }),
    op('audit', 'GET /v1/audit/export', 'owner', {
      query: { ...filter, accountId: 'M_ACCOUNT', format: 'csv' },
    }),
    op('audit', 'GET /v1/audit/verify', 'owner', {
      query: { accountId: 'M_ACCOUNT', anchorSeq: '1', anchorHash: 'a'.repeat(64) },
    }),
    op('audit', 'GET /v1/audit/head', 'owner', { query: { accountId: 'M_ACCOUNT' } }),
    op('audit', 'GET /v1/audit/public-key', 'owner'),
    op('audit', 'GET /v1/audit/retention', 'owner', { query: { accountId: 'M_ACCOUNT' } }),
    op('audit', 'PUT /v1/audit/retention', 'owner', {
      body: { accountId: 'M_ACCOUNT', retentionDays: 3650 },
    }),
    op('audit', 'GET /v1/audit/tenants/:mTenant', 'owner', { query: { ...filter, limit: '5', cursor: 'c' } }),
    op('audit', 'GET /v1/audit/tenants/:mTenant/export', 'owner', { query: { ...filter, format: 'ndjson' } }),
    // webhooks: endpoints of the `m` account, which no delivery ever reaches
    op('webhooks', 'GET /v1/webhook-event-types', 'owner'),
    op('webhooks', 'POST /v1/accounts/:mAccount/webhook-endpoints', 'owner', {
      body: {
        url: `${PUBLIC_HOOK_URL}/created`,
        eventTypes: ['tenant.purged', 'account.*'],
        description: 'fuzz',
      },
    }),
    op('webhooks', 'GET /v1/accounts/:mAccount/webhook-endpoints', 'owner'),
    op('webhooks', 'GET /v1/accounts/:mAccount/webhook-endpoints/:endpoint', 'owner'),
    op('webhooks', 'PATCH /v1/accounts/:mAccount/webhook-endpoints/:endpoint', 'owner', {
      body: { eventTypes: ['tenant.updated', 'tenant.*'], description: 'fuzzed', enabled: true },
    }),
    op('webhooks', 'DELETE /v1/accounts/:mAccount/webhook-endpoints/:doomedEndpoint', 'owner'),
    op('webhooks', 'GET /v1/accounts/:mAccount/webhook-endpoints/:endpoint/deliveries', 'owner', {
      query: { status: 'pending', limit: '5', cursor: deliveryCursor(new Date().toISOString()) },
    }),
    op('webhooks', 'GET /v1/accounts/:mAccount/webhook-endpoints/:endpoint/deliveries/:delivery', 'owner'),
    op(
      'webhooks',
      'POST /v1/accounts/:mAccount/webhook-endpoints/:endpoint/deliveries/:delivery/redeliver',
      'owner',
    ),
    // dashboard: its proxy to each service's API (`:…Path` is the rest of the path, slashes and
    // all), and its page (not in its OpenAPI document)
    op('dashboard', 'GET /api/:registryApi/:tenantsPath', 'owner', {
      query: { status: 'active', limit: '5' },
    }),
    op('dashboard', 'GET /api/:aggregationApi/:usagePath', 'owner', {
      query: { meter: 'api_calls', accountId: 'M_ACCOUNT', from: hourAgo, to: now(), window: 'hour' },
    }),
    op('dashboard', 'GET /api/:billingApi/:invoicesPath', 'owner', { query: { limit: '2' } }),
    op('dashboard', 'GET /api/:auditApi/:auditPath', 'owner', {
      query: { accountId: 'M_ACCOUNT', limit: '5' },
    }),
    op('dashboard', 'GET /', 'nobody'),
    op('dashboard', 'GET /:asset', 'nobody'),
    op('dashboard', 'GET /app.css', 'nobody'),
    // every service's operational endpoints
    ...SERVICES.flatMap((service) =>
      ['/health', '/metrics', '/docs/openapi.json'].map((path) => op(service, `GET ${path}`, 'nobody')),
    ),
  ];
}

/** This run's values of the placeholders in the sample requests, set once the fixture exists. */
const placeholders: Record<string, string> = {};

/** Replaces the placeholders of a sample request (`M_ACCOUNT`, …) with the fixture's values. */
function filled<T>(value: T): T {
  if (value === undefined) return value;
  return JSON.parse(
    JSON.stringify(value).replace(/\b[A-Z][A-Z_]+[A-Z]\b/g, (p) => placeholders[p] ?? p),
  ) as T;
}

/** The documented operations of a service, as `METHOD /path/:param`. */
async function documented(service: ServiceName): Promise<string[]> {
  const res = await fetch(`${targetUrl(service)}/docs/openapi.json`);
  const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths).flatMap(([path, operations]) =>
    Object.keys(operations).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
  );
}

const shape = (e: Endpoint) => `${e.method} ${e.path.replace(/:\w+/g, ':_')}`;

// ---- the tests -------------------------------------------------------------------------------

describe('hostile input', () => {
  let r: Tenancy;
  let m: Tenancy;
  let ids: Ids;
  let keys: Record<Caller, string>;
  const pidsBefore = new Map<ServiceName, number>();
  const runId = uniqueName('fuzz').toLowerCase();

  beforeAll(async () => {
    const onStack = SERVICES.filter((s) => targetUrl(s) === `http://127.0.0.1:${SERVICE_PORTS[s]}`);
    for (const s of onStack) pidsBefore.set(s, servicePid(s));
    const planId = await catalogPlan();
    [r, m] = await Promise.all([tenancy(3), tenancy(1)]);
    const [invoiceId, hooks] = await Promise.all([
      billedPeriod(m.accountId, m.ownerKey, planId),
      webhookDelivery(m.accountId, m.ownerKey, m.tenants[0].tenantId),
    ]);
    ids = {
      rAccount: r.accountId,
      rTenant: r.tenants[0].tenantId,
      rDoomedTenant: r.tenants[1].tenantId,
      rApiKey: r.apiKeyIds[0],
      rDoomedApiKey: r.apiKeyIds[2],
      mAccount: m.accountId,
      mTenant: m.tenants[0].tenantId,
      meter: 'api_calls',
      plan: planId,
      version: '1',
      invoice: invoiceId,
      endpoint: hooks.endpointId,
      doomedEndpoint: hooks.doomedEndpointId,
      delivery: hooks.deliveryId,
      registryApi: 'tenant-registry',
      tenantsPath: `v1/accounts/${m.accountId}/tenants`,
      aggregationApi: 'aggregation',
      usagePath: 'v1/usage',
      billingApi: 'billing',
      invoicesPath: `v1/accounts/${m.accountId}/invoices`,
      auditApi: 'audit',
      auditPath: 'v1/audit',
      asset: 'app.js',
    };
    Object.assign(placeholders, {
      R_ACCOUNT: r.accountId,
      M_ACCOUNT: m.accountId,
      M_TENANT: m.tenants[0].tenantId,
      TEMPLATE: r.templateId,
      PLAN: planId,
      PLAN_ID: `${runId}_plan`,
      METER_KEY: `${runId}_meter`,
      // Created meters stay in the catalog: their events must be no one else's.
      METER_TYPE: `${runId}.sampled`,
    });
    keys = { admin: stackVar('ADMIN_KEY'), owner: '', ingest: m.tenants[0].apiKey, nobody: '' };
  });

  it('knows every documented endpoint of every service', async () => {
    const known = new Set(endpoints().map(shape));
    for (const service of SERVICES) {
      const missing = (await documented(service))
        .map((op) =>
          shape({
            service,
            method: op.split(' ')[0] as Endpoint['method'],
            path: op.split(' ')[1],
            as: 'owner',
          }),
        )
        .filter((op) => !known.has(op));
      expect({ service, missing }).toEqual({ service, missing: [] });
    }
  });

  it('ingestion refuses an unpaired surrogate before it reaches the event log', async () => {
    await expectUnpairedSurrogatesRefused(keys.ingest);
  });

  for (const endpoint of endpoints()) {
    it(`answers hostile requests to ${endpoint.service} ${endpoint.method} ${endpoint.path} with 4xx, never 5xx`, async () => {
      // Valid events may carry unpaired surrogates: only once ingestion is known to refuse them.
      if (endpoint.service === 'ingestion') await expectUnpairedSurrogatesRefused(keys.ingest);
      const owner = endpoint.service === 'tenant-registry' ? r.ownerKey : m.ownerKey;
      const sample = { ...endpoint, body: filled(endpoint.body), query: filled(endpoint.query) };
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(requests(sample, ids, { ...keys, owner }), async (request) => {
          const status = await expectCleanAnswer(endpoint.service, endpoint.method, request);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }),
        { numRuns: RUNS_PER_ENDPOINT },
      );
      // The fuzzing got past authentication, not only bounced off it.
      expect([...statuses.keys()].some((s) => s !== 401)).toBe(true);
    });
  }

  it('dashboard answers other spellings of its pages, and of its proxy paths, without 5xx', async () => {
    const as = (path: string): Fuzzed => ({
      path,
      body: undefined,
      headers: { authorization: `Bearer ${m.ownerKey}` },
    });
    // The router matches these too (case-insensitive, trailing slash): the page has one address each.
    for (const path of ['/APP.JS', '/app.js/', '/App.Css', '/app.css/']) {
      expect({ path, status: await expectCleanAnswer('dashboard', 'GET', as(path)) }).toEqual({
        path,
        status: 404,
      });
    }
    // A percent-encoded service name is the service: the rest of the path is passed on as for its name.
    const audit = `/v1/audit?accountId=${m.accountId}&limit=1`;
    const plain = await expectCleanAnswer('dashboard', 'GET', as(`/api/audit${audit}`));
    for (const path of [`/api/%61udit${audit}`, `/api/%61%75%64%69%74${audit}`, `/API/audit${audit}`]) {
      expect({ path, status: await expectCleanAnswer('dashboard', 'GET', as(path)) }).toEqual({
        path,
        status: plain,
      });
    }
    for (const path of [
      '/api/audit%2Fv1/audit',
      '/api/%2e%2e/v1/audit',
      '/api/audit/%2e%2e/health',
      '/api/audit/v1/..%2F..%2Fhealth',
    ]) {
      expect({ path, status: await expectCleanAnswer('dashboard', 'GET', as(path)) }).toEqual({
        path,
        status: 404,
      });
    }
  });

  it('webhooks refuses a delivery cursor with a time Postgres cannot read with 400, naming it', async () => {
    const deliveries = `/v1/accounts/${m.accountId}/webhook-endpoints/${ids.endpoint}/deliveries`;
    for (const time of [
      '2026-13-01 00:00:00+00',
      '2026-02-30 00:00:00+00',
      '0000-01-01 00:00:00+00',
      '2026-11-01 24:00:00+00',
      '2026-11-01 00:00:00+16:00',
    ]) {
      const res = await fetch(`${targetUrl('webhooks')}${deliveries}?cursor=${deliveryCursor(time)}`, {
        headers: { authorization: `Bearer ${m.ownerKey}` },
      });
      const { error } = (await res.json()) as { error: { details: unknown } };
      expect({ time, status: res.status, fields: fieldsNamed(error.details) }).toEqual({
        time,
        status: 400,
        fields: ['cursor'],
      });
    }
  });

  it('webhooks refuses null for a field a PATCH may leave out with 400, naming it', async () => {
    const endpoint = `/v1/accounts/${m.accountId}/webhook-endpoints/${ids.endpoint}`;
    for (const field of ['description', 'eventTypes', 'enabled']) {
      const res = await fetch(`${targetUrl('webhooks')}${endpoint}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${m.ownerKey}` },
        body: JSON.stringify({ [field]: null }),
      });
      const { error } = (await res.json()) as { error: { details: unknown } };
      expect({ field, status: res.status, fields: fieldsNamed(error.details) }).toEqual({
        field,
        status: 400,
        fields: [field],
      });
    }
  });

  describe('malformed HTTP', () => {
    /** Bytes no HTTP client library would send. */
    const RAW_REQUESTS = [
      'GET /health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \u0001\u0002\r\n\r\n',
      'GET /health HTTP/1.1\r\nHost: x\r\nX-Correlation-Id: a\u0000b\r\n\r\n',
      'GET /health HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n',
      'GET /health HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n',
      'POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}{}{}',
      'POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n2\r\n{}\r\n0\r\n\r\n',
      'POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
      'POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n',
      `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`,
      'G\u0000T /health HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /he\u0000alth HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /health HTTP/9.9\r\nHost: x\r\n\r\n',
      'BREW /health HTTP/1.1\r\nHost: x\r\n\r\n',
    ];

    function rawExchange(port: number, request: string): Promise<string> {
      return new Promise((resolve, reject) => {
        const socket = createConnection({ host: '127.0.0.1', port }, () =>
          socket.end(Buffer.from(request, 'latin1')),
        );
        let reply = '';
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => (reply += chunk));
        socket.on('close', () => resolve(reply));
        socket.on('error', (err: NodeJS.ErrnoException) =>
          err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(reply) : reject(err),
        );
        socket.setTimeout(5_000, () => socket.destroy());
      });
    }

    it.each(SERVICES)('%s answers malformed requests with 4xx and keeps serving', async (service) => {
      const port = Number(new URL(targetUrl(service)).port);
      for (const request of RAW_REQUESTS) {
        const reply = await rawExchange(port, request);
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(reply)?.[1];
        expect({ request: JSON.stringify(request.slice(0, 120)), status }).toEqual({
          request: JSON.stringify(request.slice(0, 120)),
          status: expect.stringMatching(/^4\d\d$/),
        });
      }
      expect((await fetch(`${targetUrl(service)}/health`)).status).toBe(200);
    });
  });

  describe('oversized bodies and batches', () => {
    /** A JSON object of exactly `bytes` bytes. */
    const jsonOf = (bytes: number) => `{"pad":"${'x'.repeat(bytes - 10)}"}`;

    const LIMITS: [ServiceName, string, number][] = [
      ['tenant-registry', '/v1/accounts', 4 * 1_048_576],
      ['ingestion', '/v1/events', 1_048_576],
      ['aggregation', '/v1/entitlements/check', 1_048_576],
      ['billing', '/v1/plans', 1_048_576],
      ['audit', '/v1/audit/retention', 1_048_576],
      // Any account: what is too large is refused before anyone looks at the key or the account.
      ['webhooks', '/v1/accounts/acc_fuzz_limit/webhook-endpoints', 1_048_576],
      // The dashboard has no POST route, but reads any JSON body before routing, within the limit.
      ['dashboard', '/api/aggregation/v1/entitlements/check', 1_048_576],
    ];

    const send = (service: ServiceName, path: string, body: BodyInit, headers: Record<string, string> = {}) =>
      fetch(`${targetUrl(service)}${path}`, {
        method: path === '/v1/audit/retention' ? 'PUT' : 'POST',
        headers: {
          'content-type': service === 'ingestion' ? 'application/cloudevents+json' : 'application/json',
          authorization: `Bearer ${service === 'ingestion' ? keys.ingest : keys.admin}`,
          ...headers,
        },
        body,
        // A stream is sent chunked, without a length the server could check up front.
        ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
      });

    it.each(LIMITS)(
      '%s refuses a body one byte over its limit with 413, however it is sent',
      async (service, path, limit) => {
        const expectTooLarge = async (res: Response) => {
          expect(res.status).toBe(413);
          expect(await res.json()).toMatchObject({ error: { code: 'payload_too_large' } });
        };
        expect((await send(service, path, jsonOf(limit))).status).not.toBe(413);
        await expectTooLarge(await send(service, path, jsonOf(limit + 1)));
        const chunks = jsonOf(limit + 1).match(/[^]{1,65536}/g)!;
        await expectTooLarge(
          await send(
            service,
            path,
            new ReadableStream({
              pull(controller) {
                const next = chunks.shift();
                if (next === undefined) controller.close();
                else controller.enqueue(new TextEncoder().encode(next));
              },
            }),
          ),
        );
        // A few kilobytes of gzip that inflate past the limit.
        await expectTooLarge(
          await send(service, path, gzipSync(jsonOf(limit + 1)), { 'content-encoding': 'gzip' }),
        );
        expect((await fetch(`${targetUrl(service)}/health`)).status).toBe(200);
      },
    );

    it('refuses a batch over the maximum of events, of tenants and of groupBy properties, naming it', async () => {
      const events = Array.from({ length: 1001 }, () => apiCallEvent());
      expect(await postEvents(targetUrl('ingestion'), events, keys.ingest)).toMatchObject({
        status: 413,
        body: { error: { code: 'batch_too_large', details: { max: 1000, received: 1001 } } },
      });
      const bulk = await fetch(`${targetUrl('tenant-registry')}/v1/accounts/${r.accountId}/tenants/bulk`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${r.ownerKey}` },
        body: JSON.stringify({ tenants: Array.from({ length: 1001 }, (_, i) => ({ name: `t${i}` })) }),
      });
      expect(bulk.status).toBe(400);
      expect(fieldsNamed(((await bulk.json()) as { error: { details: unknown } }).error.details)).toEqual([
        'tenants',
      ]);
      const meter = await fetch(`${targetUrl('aggregation')}/v1/meters`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.admin}` },
        body: JSON.stringify({
          key: `${runId}_wide`,
          eventType: `${runId}.wide`,
          aggregation: 'COUNT',
          groupBy: Array.from({ length: 11 }, (_, i) => `p${i}`),
        }),
      });
      expect(meter.status).toBe(400);
      expect(fieldsNamed(((await meter.json()) as { error: { details: unknown } }).error.details)).toEqual([
        'groupBy',
      ]);
    });
  });

  afterAll(async () => {
    // Every service still serves, and none of the stack's processes was replaced meanwhile.
    for (const service of SERVICES) {
      expect({ service, health: (await fetch(`${targetUrl(service)}/health`)).status }).toEqual({
        service,
        health: 200,
      });
    }
    for (const [service, pid] of pidsBefore) {
      expect({ service, alive: isAlive(pid), pid: servicePid(service) }).toEqual({
        service,
        alive: true,
        pid,
      });
    }
  });
});
