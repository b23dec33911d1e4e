import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import {
  DEFAULT_METERS,
  UNIT,
  UsagePool,
  formatQuantity,
  readPath,
  toQuantity,
  type PoolableEvent,
} from '@metering/meters';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import {
  api,
  eventually,
  kafkaBrokers,
  postEvents,
  provisionTenants,
  serviceUrl,
  stackVar,
} from '@metering/testing';

const ingestion = serviceUrl('ingestion');
const HOUR = 3_600_000;

interface Sent {
  tenant: { tenantId: string; apiKey: string };
  resend: boolean;
  cloudEvent: {
    specversion: string;
    id: string;
    source: string;
    time: string;
    type: string;
    data: Record<string, unknown>;
    subject?: string;
  };
}

interface Scenario {
  /** The range [now - spanMs, now) that usage is compared over; items' offsets fall within it. */
  spanMs: number;
  /** Runs after ingestion accepted everything, before usage is compared. */
  afterIngest?: (accountId: string, events: Sent[]) => Promise<void>;
}

const eventOf = fc.oneof(
  fc.constant({ type: 'api.call', data: { route: '/x' } }),
  fc
    .constantFrom('0.1', '2.25', '1', '-1.5', '0.333333333', '12.5')
    .map((m) => ({ type: 'call.voice.completed', data: { minutes: Number(m) } })),
  fc
    .constantFrom('u1', 'u2', 'u3', 'u4', 'u5')
    .map((subject) => ({ type: 'user.active', subject, data: {} })),
  fc.nat({ max: 50 }).map((concurrent) => ({ type: 'connections.sampled', data: { concurrent } })),
  fc.constantFrom(0.5, 10, 1024.25).map((mb) => ({ type: 'storage.sampled', data: { mb } })),
);

/** Usage events of three tenants over the last hour, within a few minutes so gauges share buckets. */
const item = fc.record({
  tenant: fc.nat({ max: 2 }),
  offsetMs: fc.nat({ max: 3 * 60_000 }),
  event: eventOf,
  resend: fc.boolean(),
});
type Item = typeof item extends fc.Arbitrary<infer T> ? T : never;
const scenario = fc.array(item, { minLength: 5, maxLength: 60 });

/** Items spread over `span`: whole past hours and days (read from rollups) between partial ones. */
const spreadOver = (span: number) =>
  fc.array(
    fc
      .record({ hour: fc.nat({ max: Math.floor(span / HOUR) - 1 }), at: item })
      .map(({ hour, at }) => ({ ...at, offsetMs: Math.min(hour * HOUR + at.offsetMs, span - HOUR / 2) })),
    { minLength: 5, maxLength: 60 },
  );
const ROLLUP_SPAN = 5 * HOUR;
const DAYS_SPAN = 3 * 24 * HOUR + 5 * HOUR;

/**
 * Ingests the items (some twice) for a new account of three tenants and compares every meter's
 * pooled usage over the whole span with the reference.
 */
async function expectPooledAsReference(
  items: Item[],
  { spanMs, afterIngest }: Scenario = { spanMs: HOUR },
): Promise<void> {
  const { accountId, ownerKey, tenants } = await provisionTenants(3);
  const start = Date.now() - spanMs;
  const events = items.map((item): Sent => ({
    tenant: tenants[item.tenant],
    resend: item.resend,
    cloudEvent: {
      specversion: '1.0',
      id: randomUUID(),
      source: 'e2e://pooling',
      time: new Date(start + item.offsetMs).toISOString(),
      ...item.event,
    },
  }));
  for (const tenant of tenants) {
    const own = events.filter((e) => e.tenant === tenant);
    if (!own.length) continue;
    const first = await postEvents(
      ingestion,
      own.map((e) => e.cloudEvent),
      tenant.apiKey,
    );
    expect(first.body).toMatchObject({ accepted: own.length, rejected: [] });
    // Some sent again, in reverse order: duplicates, counted once.
    const again = own.filter((e) => e.resend).reverse();
    if (again.length) {
      const second = await postEvents(
        ingestion,
        again.map((e) => e.cloudEvent),
        tenant.apiKey,
      );
      expect(second.body.duplicates).toBe(again.length);
    }
  }
  await afterIngest?.(accountId, events);
  for (const meter of DEFAULT_METERS) {
    const poolable = events
      .filter((e) => e.cloudEvent.type === meter.eventType)
      .map((e): PoolableEvent => ({
        tenantId: e.tenant.tenantId,
        eventId: e.cloudEvent.id,
        timeMs: Date.parse(e.cloudEvent.time),
        ...(e.cloudEvent.subject ? { subject: e.cloudEvent.subject } : {}),
        value: meter.valueProperty
          ? toQuantity(readPath(e.cloudEvent.data, meter.valueProperty) as number)
          : UNIT,
      }));
    const expected = new UsagePool(meter).add(poolable).result();
    const expectedEvents = events.filter((e) => e.cloudEvent.type === meter.eventType).length;
    const query = new URLSearchParams({
      meter: meter.key,
      accountId,
      from: new Date(start).toISOString(),
      to: new Date(start + spanMs).toISOString(),
    });
    const read = () =>
      api(serviceUrl('aggregation'), 'GET', `/v1/usage?${query.toString()}`, { key: ownerKey });
    await eventually(async () => ((await read()).body.events === expectedEvents ? true : undefined), {
      timeoutMs: 30_000,
      what: `${expectedEvents} events of ${meter.key} in ClickHouse`,
    });
    // Read again once everything is stored: a read racing the sink's inserts may mix two moments.
    const usage = (await read()).body;
    expect({
      value: usage.value,
      tenants: usage.tenants.map(({ events: _n, ...t }: { events: number }) => t),
    }).toEqual({
      value: formatQuantity(expected.pooled),
      tenants: expected.tenants.map((t) => ({
        tenantId: t.tenantId,
        usage: formatQuantity(t.usage),
        contribution: formatQuantity(t.contribution),
      })),
    });
    // One tenant alone: its events pooled on their own.
    const [first] = tenants;
    const alone = new UsagePool(meter).add(poolable.filter((p) => p.tenantId === first.tenantId)).result();
    const own = await api(
      serviceUrl('aggregation'),
      'GET',
      `/v1/usage?${new URLSearchParams({ meter: meter.key, accountId, tenantId: first.tenantId, from: query.get('from')!, to: query.get('to')! }).toString()}`,
      { key: ownerKey },
    );
    expect({ status: own.status, value: own.body.value }).toEqual({
      status: 200,
      value: formatQuantity(alone.pooled),
    });
  }
}

describe('pooled usage from ClickHouse', () => {
  it('equals the pooling reference for every meter, whatever the events, their order and their duplicates', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, (items) => expectPooledAsReference(items)),
      { numRuns: 8 },
    );
  });

  it('pools a peak as the busiest bucket across tenants, below the sum of the tenants’ peaks', async () => {
    const gauge = (tenant: number, offsetMs: number, concurrent: number): Item => ({
      tenant,
      offsetMs,
      event: { type: 'connections.sampled', data: { concurrent } },
      resend: false,
    });
    // Tenant 0 peaks at 10 in the first minute, tenant 1 at 8 in the second: the account never had 18.
    await expectPooledAsReference([
      gauge(0, 1_000, 10),
      gauge(1, 2_000, 2),
      gauge(0, 61_000, 1),
      gauge(1, 62_000, 8),
    ]);
  });
});

describe('pooled usage per window', () => {
  it('pools each window on its own: the peak and the distinct users of each minute', async () => {
    const { accountId, ownerKey, tenants } = await provisionTenants(2);
    const start = Math.floor((Date.now() - HOUR) / 60_000) * 60_000;
    const at = (minute: number, second: number) =>
      new Date(start + minute * 60_000 + second * 1000).toISOString();
    const event = (time: string, patch: Record<string, unknown>) => ({
      specversion: '1.0',
      id: randomUUID(),
      source: 'e2e://windows',
      time,
      ...patch,
    });
    const gauge = (time: string, concurrent: number) =>
      event(time, { type: 'connections.sampled', data: { concurrent } });
    const active = (time: string, subject: string) => event(time, { type: 'user.active', subject, data: {} });
    const sent = [
      [gauge(at(0, 5), 4), gauge(at(1, 5), 9), active(at(0, 1), 'u1'), active(at(1, 1), 'u1')],
      [gauge(at(0, 6), 3), gauge(at(1, 6), 1), active(at(0, 2), 'u2'), active(at(2, 2), 'u3')],
    ];
    for (const [i, events] of sent.entries()) {
      expect((await postEvents(ingestion, events, tenants[i].apiKey)).body.accepted).toBe(events.length);
    }
    const windowed = async (meter: string, expectedEvents: number) => {
      const query = new URLSearchParams({ meter, accountId, from: at(0, 0), to: at(3, 0), window: 'minute' });
      const read = () =>
        api(serviceUrl('aggregation'), 'GET', `/v1/usage?${query.toString()}`, { key: ownerKey });
      await eventually(async () => ((await read()).body.events === expectedEvents ? true : undefined), {
        timeoutMs: 30_000,
        what: `${expectedEvents} ${meter} events`,
      });
      const body = (await read()).body as { value: string; windows: { from: string; value: string }[] };
      return { value: body.value, windows: body.windows.map((w) => [w.from, w.value]) };
    };
    // Peaks: minute 0 → 4 + 3, minute 1 → 9 + 1, minute 2 → nothing; over the range: 10.
    expect(await windowed('pcc', 4)).toEqual({
      value: '10',
      windows: [
        [at(0, 0), '7'],
        [at(1, 0), '10'],
        [at(2, 0), '0'],
      ],
    });
    // Users per tenant added: minute 0 → u1 + u2, minute 1 → u1, minute 2 → u3; over the range {u1} + {u2, u3}.
    expect(await windowed('mau', 4)).toEqual({
      value: '3',
      windows: [
        [at(0, 0), '2'],
        [at(1, 0), '1'],
        [at(2, 0), '1'],
      ],
    });
  });
});

describe('pooled usage from rollups', () => {
  const kafka = new Kafka({ brokers: kafkaBrokers(), clientId: 'e2e-rollups', logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  let pg: Client;

  beforeAll(async () => {
    pg = new Client({ connectionString: `${stackVar('POSTGRES_URL')}/metering_aggregation` });
    await Promise.all([producer.connect(), pg.connect()]);
  });
  afterAll(() => Promise.all([producer.disconnect(), pg.end()]));

  /** Hours of the account whose rollups wait for a rebuild. */
  async function staleHours(accountId: string): Promise<number> {
    const { rows } = await pg.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM rollup_stale_hours WHERE account_id = $1',
      [accountId],
    );
    return Number(rows[0]?.n);
  }

  const rollupsCurrent = (accountId: string) =>
    eventually(async () => ((await staleHours(accountId)) === 0 ? true : undefined), {
      timeoutMs: 60_000,
      what: `rollups of ${accountId} rebuilt`,
    });

  /** Delivers accepted events to the sink again, as a redelivery after a crash would. */
  async function redeliver(accountId: string, events: Sent[]): Promise<void> {
    const byTenant = new Map<string, Sent[]>();
    for (const e of events) byTenant.set(e.tenant.tenantId, [...(byTenant.get(e.tenant.tenantId) ?? []), e]);
    await producer.send({
      topic: 'usage.events.v1',
      acks: -1,
      messages: [...byTenant].map(([tenantId, own]) => ({
        key: tenantId,
        value: JSON.stringify({
          tenantId,
          records: own.map(({ cloudEvent: { time, ...ce } }) => ({
            ...ce,
            source: 'e2e://pooling',
            tenantId,
            accountId,
            timeMs: Date.parse(time),
            receivedAtMs: Date.now(),
          })),
        }),
      })),
    });
  }

  /** Ingests, waits for the rollups, redelivers everything straight to the sink, waits again. */
  const rolledUpTwice = (spanMs: number) => ({
    spanMs,
    afterIngest: async (accountId: string, events: Sent[]) => {
      await rollupsCurrent(accountId);
      // Every event again straight to the sink: the rebuilt hours must not count them twice.
      await redeliver(accountId, events);
      // The sink marks the hours it wrote; they stay marked for at least ROLLUP_SETTLE_MS.
      await eventually(async () => ((await staleHours(accountId)) > 0 ? true : undefined), {
        what: 'the redelivered hours marked stale',
      });
      await rollupsCurrent(accountId);
    },
  });

  it('equals the reference once whole hours are rolled up, and again after redelivered duplicates', async () => {
    await fc.assert(
      fc.asyncProperty(spreadOver(ROLLUP_SPAN), (items) =>
        expectPooledAsReference(items, rolledUpTwice(ROLLUP_SPAN)),
      ),
      { numRuns: 4 },
    );
  });

  it('equals the reference over whole days read from daily rollups', async () => {
    await fc.assert(
      fc.asyncProperty(spreadOver(DAYS_SPAN), (items) =>
        expectPooledAsReference(items, rolledUpTwice(DAYS_SPAN)),
      ),
      { numRuns: 3 },
    );
  });
});
