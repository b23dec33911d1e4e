import fc from 'fast-check';
import { DEFAULT_METERS, UNIT, UsagePool, toMeter, type Meter, type PoolableEvent } from '@metering/meters';
import { BillingMathError, BillingMathErrorCode } from './errors';
import {
  clipRange,
  modeAt,
  pooledRanges,
  pooledUsage,
  poolSegments,
  type MeterFigures,
  type OwnPlanSpan,
  type PoolMeter,
  type TimeRange,
  type UsageReader,
  type UsageRequest,
} from './modes';
import { BillingCalendar } from './periods';

const DAY = 86_400_000;
const asRange = (p: { startMs: number; endMs: number }): TimeRange => ({ fromMs: p.startMs, toMs: p.endMs });
const T0 = Date.UTC(2026, 0, 1);
const T1 = T0 + 120 * DAY;
const TENANTS = ['t-a', 't-b', 't-c', 't-d'];

interface MeterEvent extends PoolableEvent {
  meterKey: string;
}

/** Aggregation's answer over recorded events: libs/meters' pooling reference per meter. */
function referenceReader(
  meters: readonly Meter[],
  events: readonly MeterEvent[],
  requests: UsageRequest[] = [],
) {
  const read: UsageReader = (request) => {
    requests.push(request);
    return Promise.resolve(
      request.meterKeys.map((key): MeterFigures => {
        const selected = events.filter(
          (e) =>
            e.meterKey === key &&
            e.timeMs >= request.fromMs &&
            e.timeMs < request.toMs &&
            (!request.tenantIds || request.tenantIds.includes(e.tenantId)),
        );
        return withEvents(new UsagePool(meters.find((m) => m.key === key)!).add(selected).result(), selected);
      }),
    );
  };
  return read;
}

function withEvents(result: ReturnType<UsagePool['result']>, events: readonly PoolableEvent[]): MeterFigures {
  return {
    meterKey: result.meterKey,
    pooled: result.pooled,
    tenants: result.tenants.map((t) => ({
      ...t,
      events: events.filter((e) => e.tenantId === t.tenantId).length,
    })),
  };
}

const kind = (m: Meter): PoolMeter => ({ key: m.key, aggregation: m.aggregation, pooling: m.pooling });

const poolQuery = (read: UsageReader, meters: readonly Meter[], range: TimeRange, spans: OwnPlanSpan[]) => ({
  read,
  meterKeys: meters.map((m) => m.key),
  range,
  spans,
  meterKinds: () => Promise.resolve(meters.map(kind)),
});

const METERS: Meter[] = [
  ...DEFAULT_METERS,
  toMeter({
    key: 'mau_distinct',
    name: 'MAU',
    eventType: 'u',
    aggregation: 'UNIQUE_COUNT',
    pooling: 'distinct-across-tenants',
  }),
  toMeter({ key: 'lowest', name: 'Lowest', eventType: 'l', aggregation: 'MIN', valueProperty: 'v' }),
  toMeter({ key: 'mean', name: 'Mean', eventType: 'm', aggregation: 'AVG', valueProperty: 'v' }),
  toMeter({
    key: 'peak_hour',
    name: 'Peak',
    eventType: 'p',
    aggregation: 'MAX',
    valueProperty: 'v',
    bucketSeconds: 3600,
  }),
];

/** Own-plan spans per tenant: sorted switch instants paired up, the last span possibly open. */
const spansArb = (range: TimeRange, extraInstants: number[] = []) =>
  fc
    .array(
      fc.record({
        tenantId: fc.constantFrom(...TENANTS),
        instants: fc.uniqueArray(
          fc.oneof(
            fc.integer({ min: range.fromMs - DAY, max: range.toMs + DAY }),
            ...(extraInstants.length ? [fc.constantFrom(...extraInstants)] : []),
          ),
          { maxLength: 5 },
        ),
      }),
      { maxLength: 3 },
    )
    .map((list) => {
      const spans: OwnPlanSpan[] = [];
      for (const tenantId of TENANTS) {
        const instants = [
          ...new Set(list.filter((l) => l.tenantId === tenantId).flatMap((l) => l.instants)),
        ].sort((a, b) => a - b);
        for (let i = 0; i < instants.length; i += 2) {
          spans.push({
            tenantId,
            subscriptionId: `${tenantId}-sub-${i / 2}`,
            fromMs: instants[i],
            toMs: instants[i + 1] ?? Number.POSITIVE_INFINITY,
          });
        }
      }
      return spans;
    });

/** Events of every meter at random instants, and at each switch instant and a millisecond either side. */
function eventsArb(range: TimeRange, meters: readonly Meter[]) {
  return fc
    .array(
      fc.record({
        tenantId: fc.constantFrom(...TENANTS),
        meterKey: fc.constantFrom(...meters.map((m) => m.key)),
        timeMs: fc.integer({ min: range.fromMs, max: range.toMs - 1 }),
        subject: fc.constantFrom('u1', 'u2', 'u3', 'u4', 'u5'),
        value: fc.bigInt({ min: -3n, max: 40n }),
      }),
      { maxLength: 60 },
    )
    .map((list) => list.map((e, i): MeterEvent => ({ ...e, eventId: `e${i}`, value: e.value * UNIT })));
}

/** Events at the switch instants of `spans` (and a millisecond either side), added to `events`. */
function atSwitches(events: MeterEvent[], spans: readonly OwnPlanSpan[], range: TimeRange): MeterEvent[] {
  const extra: MeterEvent[] = [];
  for (const s of spans) {
    for (const at of [s.fromMs, s.toMs]) {
      for (const t of [at - 1, at, at + 1]) {
        if (t < range.fromMs || t >= range.toMs) continue;
        for (const tenantId of [s.tenantId, TENANTS[0]]) {
          for (const meter of METERS) {
            extra.push({
              tenantId,
              meterKey: meter.key,
              timeMs: t,
              subject: `s${t % 7}`,
              value: BigInt((t % 11) + 1) * UNIT,
              eventId: `x${extra.length}`,
            });
          }
        }
      }
    }
  }
  return [...events, ...extra];
}

const pooledEvents = (events: readonly MeterEvent[], spans: readonly OwnPlanSpan[], range: TimeRange) =>
  events.filter(
    (e) =>
      e.timeMs >= range.fromMs &&
      e.timeMs < range.toMs &&
      modeAt(spans, e.tenantId, e.timeMs).mode === 'pooled',
  );

/**
 * The reference for MAX over a changing pool: a bucket cut by a switch instant is two buckets.
 * Each event moves to a virtual time that keeps its bucket within its segment apart from others.
 */
function segmentedPeaks(
  meter: Meter,
  events: readonly MeterEvent[],
  spans: readonly OwnPlanSpan[],
  range: TimeRange,
) {
  const switches = [...new Set(spans.flatMap((s) => [s.fromMs, s.toMs]))].filter(
    (t) => t > range.fromMs && t < range.toMs,
  );
  const stride = 10_000 * DAY;
  const moved = events.map((e) => ({
    ...e,
    timeMs: switches.filter((s) => s <= e.timeMs).length * stride + e.timeMs,
  }));
  const result = new UsagePool(meter).add(moved).result();
  const { peakBucketStartMs: _peak, ...figures } = withEvents(result, moved) as MeterFigures & {
    peakBucketStartMs?: number;
  };
  return figures;
}

describe(modeAt.name, () => {
  const spans: OwnPlanSpan[] = [{ tenantId: 't-a', subscriptionId: 's1', fromMs: 1000, toMs: 2000 }];

  it('puts an event exactly at the switch instant in the mode that starts there', () => {
    expect(modeAt(spans, 't-a', 999)).toEqual({ mode: 'pooled' });
    expect(modeAt(spans, 't-a', 1000)).toEqual({ mode: 'tenant', subscriptionId: 's1' });
    expect(modeAt(spans, 't-a', 1999)).toEqual({ mode: 'tenant', subscriptionId: 's1' });
    expect(modeAt(spans, 't-a', 2000)).toEqual({ mode: 'pooled' });
    expect(modeAt(spans, 't-b', 1500)).toEqual({ mode: 'pooled' });
  });
});

describe(poolSegments.name, () => {
  it('cuts a range at every switch instant inside it and names who is on its own plan', () => {
    const spans: OwnPlanSpan[] = [
      { tenantId: 't-b', subscriptionId: 's2', fromMs: 50, toMs: Number.POSITIVE_INFINITY },
      { tenantId: 't-a', subscriptionId: 's1', fromMs: 0, toMs: 30 },
    ];
    expect(poolSegments({ fromMs: 10, toMs: 100 }, spans)).toEqual([
      { fromMs: 10, toMs: 30, ownPlan: ['t-a'] },
      { fromMs: 30, toMs: 50, ownPlan: [] },
      { fromMs: 50, toMs: 100, ownPlan: ['t-b'] },
    ]);
    expect(pooledRanges({ fromMs: 10, toMs: 100 }, spans, 't-b')).toEqual([{ fromMs: 10, toMs: 50 }]);
    expect(pooledRanges({ fromMs: 10, toMs: 100 }, spans, 't-c')).toEqual([{ fromMs: 10, toMs: 100 }]);
  });

  it('tiles the range without gaps or overlaps', () => {
    const range = { fromMs: T0, toMs: T1 };
    fc.assert(
      fc.property(spansArb(range), (spans) => {
        const segments = poolSegments(range, spans);
        expect(segments[0].fromMs).toBe(T0);
        expect(segments[segments.length - 1].toMs).toBe(T1);
        segments.slice(1).forEach((s, i) => expect(s.fromMs).toBe(segments[i].toMs));
      }),
    );
  });
});

describe(pooledUsage.name, () => {
  const range = { fromMs: T0, toMs: T0 + 10 * DAY };

  it('reads once when no tenant of the range is on its own plan', async () => {
    const requests: UsageRequest[] = [];
    const events: MeterEvent[] = [
      { tenantId: 't-a', eventId: '1', meterKey: 'api_calls', timeMs: T0 + DAY, value: UNIT },
    ];
    const spans: OwnPlanSpan[] = [
      { tenantId: 't-b', subscriptionId: 's', fromMs: T0 + 20 * DAY, toMs: Infinity },
    ];
    const [calls] = await pooledUsage(
      poolQuery(referenceReader(METERS, events, requests), METERS, range, spans),
    );
    expect(calls).toMatchObject({ meterKey: 'mau', pooled: 0n });
    expect(requests).toHaveLength(1);
  });

  it('counts usage before the switch in the pool and none from the switch instant on', async () => {
    const switchAt = T0 + 3 * DAY + 12_345;
    const spans: OwnPlanSpan[] = [{ tenantId: 't-b', subscriptionId: 's', fromMs: switchAt, toMs: Infinity }];
    const events: MeterEvent[] = [switchAt - 1, switchAt, switchAt + 1].map((timeMs, i) => ({
      tenantId: 't-b',
      eventId: `b${i}`,
      meterKey: 'api_calls',
      timeMs,
      value: UNIT,
    }));
    events.push({ tenantId: 't-a', eventId: 'a', meterKey: 'api_calls', timeMs: switchAt + 5, value: UNIT });
    const calls = DEFAULT_METERS.find((m) => m.key === 'api_calls')!;
    const [pool] = await pooledUsage(poolQuery(referenceReader(METERS, events), [calls], range, spans));
    expect(pool).toEqual({
      meterKey: 'api_calls',
      pooled: 2n * UNIT,
      tenants: [
        { tenantId: 't-a', usage: UNIT, contribution: UNIT, events: 1 },
        { tenantId: 't-b', usage: UNIT, contribution: UNIT, events: 1 },
      ],
    });
  });

  it('equals pooling exactly the events of tenants while they were pooled, for every aggregation', async () => {
    await fc.assert(
      fc.asyncProperty(
        spansArb(range).chain((spans) => fc.tuple(fc.constant(spans), eventsArb(range, METERS))),
        async ([spans, random]) => {
          const events = atSwitches(random, spans, range);
          const read = referenceReader(METERS, events);
          const pooled = pooledEvents(events, spans, range);
          for (const meter of METERS) {
            const mine = pooled.filter((e) => e.meterKey === meter.key);
            const expected =
              meter.aggregation === 'MAX'
                ? segmentedPeaks(meter, mine, spans, range)
                : withEvents(new UsagePool(meter).add(mine).result(), mine);
            const { peakBucketStartMs: _p, ...reference } = expected as MeterFigures & {
              peakBucketStartMs?: number;
            };
            let actual: MeterFigures;
            try {
              [actual] = await pooledUsage(poolQuery(read, [meter], range, spans));
            } catch (err) {
              expect(err).toBeInstanceOf(BillingMathError);
              expect((err as BillingMathError).code).toBe(BillingMathErrorCode.POOL_NOT_EXACT);
              expect(meter.aggregation).toBe('UNIQUE_COUNT');
              expect(
                partsWithUsage(mine, spans, range, meter.pooling === 'distinct-across-tenants'),
              ).toBeGreaterThan(1);
              continue;
            }
            expect(actual).toEqual(reference);
          }
          // Several meters at once (as billing asks) give what each gives alone.
          const together = METERS.filter((m) => m.aggregation !== 'UNIQUE_COUNT');
          const all = await pooledUsage(poolQuery(read, together, range, spans));
          for (const [i, meter] of together.entries()) {
            expect(all[i]).toEqual((await pooledUsage(poolQuery(read, [meter], range, spans)))[0]);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('refuses a distinct-across-tenants meter only when its pooled tenants were pooled over different parts', async () => {
    const distinct = METERS.find((m) => m.key === 'mau_distinct')!;
    const switchAt = T0 + DAY;
    const spans: OwnPlanSpan[] = [{ tenantId: 't-b', subscriptionId: 's', fromMs: switchAt, toMs: Infinity }];
    const event = (tenantId: string, timeMs: number, i: number): MeterEvent => ({
      tenantId,
      eventId: `${tenantId}${i}`,
      meterKey: distinct.key,
      timeMs,
      subject: 'same-user',
      value: 0n,
    });
    const onlyAfter = [event('t-a', switchAt + 1, 1), event('t-b', switchAt + 2, 2)];
    const [exact] = await pooledUsage(
      poolQuery(referenceReader(METERS, onlyAfter), [distinct], range, spans),
    );
    expect(exact.pooled).toBe(UNIT);
    const both = [...onlyAfter, event('t-b', switchAt - 1, 3)];
    await expect(
      pooledUsage(poolQuery(referenceReader(METERS, both), [distinct], range, spans)),
    ).rejects.toMatchObject({
      code: BillingMathErrorCode.POOL_NOT_EXACT,
      kind: 'conflict',
    });
  });
});

/** How many separate pooled parts (per tenant, or across tenants for a distinct count) hold usage. */
function partsWithUsage(
  events: MeterEvent[],
  spans: readonly OwnPlanSpan[],
  range: TimeRange,
  acrossTenants: boolean,
) {
  const partOf = (e: MeterEvent) => {
    const r = pooledRanges(range, spans, e.tenantId).find((p) => p.fromMs <= e.timeMs && e.timeMs < p.toMs)!;
    return `${r.fromMs}:${r.toMs}`;
  };
  if (acrossTenants) return new Set(events.map(partOf)).size;
  return Math.max(0, ...TENANTS.map((t) => new Set(events.filter((e) => e.tenantId === t).map(partOf)).size));
}

describe('billing modes: the split over periods', () => {
  const ZONES = ['UTC', 'America/New_York', 'Asia/Tokyo', 'Australia/Lord_Howe'];
  const calendarArb = fc
    .record({ anchorDay: fc.integer({ min: 1, max: 31 }), timeZone: fc.constantFrom(...ZONES) })
    .map((o) => new BillingCalendar(o));
  const range = { fromMs: T0, toMs: T1 };

  it('bills every event exactly once: in the pool while pooled, else on the own subscription, across period boundaries', async () => {
    const api = DEFAULT_METERS.find((m) => m.key === 'voice_minutes')!;
    await fc.assert(
      fc.asyncProperty(
        calendarArb.chain((pool) => {
          const boundaries = pool.periodsBetween(T0, T1).map((p) => p.startMs);
          return fc.record({
            pool: fc.constant(pool),
            spans: spansArb(range, boundaries),
            ownCalendars: fc.array(calendarArb, { minLength: 8, maxLength: 8 }),
            times: fc.array(fc.integer({ min: T0, max: T1 - 1 }), { maxLength: 40 }),
          });
        }),
        async ({ pool, spans, ownCalendars, times }) => {
          // Each event's value is its own power of two, so a sum shows exactly which events it holds.
          const instants = [
            ...times,
            ...spans.flatMap((s) => [s.fromMs - 1, s.fromMs, s.toMs - 1, s.toMs]),
            ...pool.periodsBetween(T0, T1).flatMap((p) => [p.startMs - 1, p.startMs]),
          ].filter((t) => t >= T0 && t < T1);
          const events: MeterEvent[] = instants.map((timeMs, i) => ({
            tenantId: TENANTS[i % TENANTS.length],
            eventId: `e${i}`,
            meterKey: api.key,
            timeMs,
            value: 2n ** BigInt(i),
          }));
          const read = referenceReader([api], events);
          let inPool = 0n;
          for (const period of pool.periodsBetween(T0, T1)) {
            const [usage] = await pooledUsage(
              poolQuery(read, [api], clipRange(asRange(period), range)!, spans),
            );
            inPool += usage.pooled;
          }
          let onOwnPlans = 0n;
          for (const [i, span] of spans.entries()) {
            const own = clipRange(span, range);
            if (!own) continue;
            for (const period of ownCalendars[i % ownCalendars.length].periodsBetween(own.fromMs, own.toMs)) {
              const [usage] = await read({
                ...clipRange(asRange(period), own)!,
                meterKeys: [api.key],
                tenantIds: [span.tenantId],
              });
              onOwnPlans += usage.pooled;
            }
          }
          const expectedPool = events
            .filter((e) => modeAt(spans, e.tenantId, e.timeMs).mode === 'pooled')
            .reduce((s, e) => s + e.value, 0n);
          expect(inPool).toBe(expectedPool);
          expect(inPool & onOwnPlans).toBe(0n);
          expect(inPool + onOwnPlans).toBe(events.reduce((s, e) => s + e.value, 0n));
        },
      ),
      { numRuns: 150 },
    );
  });
});
