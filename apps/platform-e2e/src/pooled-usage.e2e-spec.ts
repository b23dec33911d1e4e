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
import { api, eventually, postEvents, provisionTenants, serviceUrl } from '@metering/testing';

const ingestion = serviceUrl('ingestion');
const HOUR = 3_600_000;

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

/** Ingests the items (some twice) for a new account of three tenants and compares every meter's pooled usage with the reference. */
async function expectPooledAsReference(items: Item[]): Promise<void> {
  const { accountId, ownerKey, tenants } = await provisionTenants(3);
  const start = Date.now() - HOUR;
  const events = items.map((item) => ({
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
  for (const meter of DEFAULT_METERS) {
    const pool = new UsagePool(meter).add(
      events
        .filter((e) => e.cloudEvent.type === meter.eventType)
        .map((e): PoolableEvent => ({
          tenantId: e.tenant.tenantId,
          eventId: e.cloudEvent.id,
          timeMs: Date.parse(e.cloudEvent.time),
          ...('subject' in e.cloudEvent ? { subject: e.cloudEvent.subject } : {}),
          value: meter.valueProperty
            ? toQuantity(readPath(e.cloudEvent.data, meter.valueProperty) as number)
            : UNIT,
        })),
    );
    const expected = pool.result();
    const expectedEvents = events.filter((e) => e.cloudEvent.type === meter.eventType).length;
    const query = new URLSearchParams({
      meter: meter.key,
      accountId,
      from: new Date(start).toISOString(),
      to: new Date(start + HOUR).toISOString(),
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
  }
}

describe('pooled usage from ClickHouse', () => {
  it('equals the pooling reference for every meter, whatever the events, their order and their duplicates', async () => {
    await fc.assert(fc.asyncProperty(scenario, expectPooledAsReference), { numRuns: 8 });
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
