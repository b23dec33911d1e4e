import fc from 'fast-check';
import { DEFAULT_METERS } from './default-meters';
import { toMeter, type Meter } from './meter';
import { UsagePool, allocate, overage, type PoolableEvent } from './pooling';
import { UNIT } from './quantity';

const meter = (key: string): Meter => {
  const m = DEFAULT_METERS.find((d) => d.key === key);
  if (!m) throw new Error(key);
  return m;
};
const distinctMau = toMeter({
  key: 'mau_d',
  eventType: 'user.active',
  aggregation: 'UNIQUE_COUNT',
  pooling: 'distinct-across-tenants',
});
const ALL_METERS = [
  ...DEFAULT_METERS,
  distinctMau,
  toMeter({ key: 'min_q', eventType: 'q', aggregation: 'MIN', valueProperty: 'v' }),
  toMeter({ key: 'avg_q', eventType: 'q', aggregation: 'AVG', valueProperty: 'v' }),
];

const ev = (
  tenantId: string,
  eventId: string,
  timeMs: number,
  value = 0n,
  subject?: string,
): PoolableEvent => ({
  tenantId,
  eventId,
  timeMs,
  value,
  ...(subject ? { subject } : {}),
});

const events = fc.uniqueArray(
  fc.record({
    tenantId: fc.constantFrom('t-a', 't-b', 't-c'),
    eventId: fc.stringMatching(/^[a-z0-9]{1,6}$/),
    timeMs: fc.integer({ min: 0, max: 10 * 60_000 }),
    subject: fc.constantFrom('u1', 'u2', 'u3', 'u4'),
    value: fc.bigInt({ min: 0n, max: 10n ** 12n }),
  }),
  { selector: (e) => `${e.tenantId}/${e.eventId}`, maxLength: 60 },
);

const pool = (m: Meter, ...batches: PoolableEvent[][]) => {
  const p = new UsagePool(m);
  for (const b of batches) p.add(b);
  return p.result();
};

describe(UsagePool.name, () => {
  it('gives the same result whatever the order, the batch boundaries and the redeliveries', () => {
    fc.assert(
      fc.property(
        events,
        fc.constantFrom(...ALL_METERS),
        fc.array(fc.nat(), { maxLength: 5 }),
        fc.integer(),
        (es, m, cuts, seed) => {
          const shuffled = [...es].sort((a, b) => hash(a.eventId + seed) - hash(b.eventId + seed));
          const bounds = [...new Set(cuts.map((c) => c % (es.length + 1)))].sort((a, b) => a - b);
          const batches = [0, ...bounds].map((start, i) =>
            shuffled.slice(start, bounds[i] ?? shuffled.length),
          );
          // Every batch delivered again at the end: a consumer restart before its commit.
          expect(pool(m, ...batches, ...batches)).toEqual(pool(m, es));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('makes contributions add up to the pooled figure', () => {
    fc.assert(
      fc.property(events, fc.constantFrom(...ALL_METERS.filter((m) => m.aggregation !== 'AVG')), (es, m) => {
        const r = pool(m, es);
        expect(r.tenants.reduce((s, t) => s + t.contribution, 0n)).toBe(r.pooled);
      }),
    );
  });

  it('never pools a peak above the sum of the tenants’ peaks', () => {
    fc.assert(
      fc.property(events, (es) => {
        const r = pool(meter('pcc'), es);
        expect(r.pooled <= r.tenants.reduce((s, t) => s + t.usage, 0n)).toBe(true);
      }),
    );
  });

  it('pools a peak as the busiest minute across tenants, below the sum of peaks when they differ in time', () => {
    // Tenant a peaks at 10 in minute 0, tenant b at 8 in minute 1: the account never had 18.
    const r = pool(meter('pcc'), [
      ev('a', '1', 10_000, 10n * UNIT),
      ev('b', '2', 20_000, 2n * UNIT),
      ev('a', '3', 70_000, 1n * UNIT),
      ev('b', '4', 80_000, 8n * UNIT),
    ]);
    expect(r.pooled).toBe(12n * UNIT);
    expect(r.peakBucketStartMs).toBe(0);
    expect(r.tenants).toEqual([
      { tenantId: 'a', usage: 10n * UNIT, contribution: 10n * UNIT },
      { tenantId: 'b', usage: 8n * UNIT, contribution: 2n * UNIT },
    ]);
  });

  it('counts monthly active users per tenant, or once across tenants, as the meter says', () => {
    const es = [
      ev('a', '1', 5, 0n, 'u1'),
      ev('a', '2', 6, 0n, 'u2'),
      ev('b', '3', 1, 0n, 'u1'),
      ev('b', '4', 2, 0n, 'u1'),
    ];
    expect(pool(meter('mau'), es).pooled).toBe(3n * UNIT);
    const distinct = pool(distinctMau, es);
    expect(distinct.pooled).toBe(2n * UNIT);
    // u1 was seen first in b.
    expect(distinct.tenants.map((t) => [t.tenantId, t.contribution])).toEqual([
      ['a', 1n * UNIT],
      ['b', 1n * UNIT],
    ]);
  });

  it('sums the latest value of each tenant', () => {
    const r = pool(meter('storage_mb'), [ev('a', '1', 1, 5n), ev('a', '2', 9, 3n), ev('b', '3', 4, 7n)]);
    expect(r.pooled).toBe(10n);
  });

  it('sums corrections: a negative value takes usage back', () => {
    const r = pool(meter('voice_minutes'), [ev('a', '1', 1, 5n * UNIT), ev('a', '2', 2, -2n * UNIT)]);
    expect(r.pooled).toBe(3n * UNIT);
  });
});

describe('overage', () => {
  it('is zero exactly at the included quantity and the excess above it', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 15n }),
        fc.bigInt({ min: 0n, max: 10n ** 15n }),
        (pooled, extra) => {
          expect(overage(pooled, pooled)).toBe(0n);
          expect(overage(pooled + extra, pooled)).toBe(extra);
          expect(overage(pooled, pooled + extra)).toBe(0n);
        },
      ),
    );
  });
});

describe('allocate', () => {
  const weights = fc.uniqueArray(
    fc.record({ key: fc.stringMatching(/^t[0-9]{1,3}$/), weight: fc.bigInt({ min: 0n, max: 10n ** 9n }) }),
    { selector: (w) => w.key, minLength: 1, maxLength: 20 },
  );

  it('splits an amount so the shares add up exactly, each within one unit of its exact share', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), weights, (amount, ws) => {
        fc.pre(ws.some((w) => w.weight > 0n));
        const shares = allocate(amount, ws);
        const total = ws.reduce((s, w) => s + w.weight, 0n);
        expect([...shares.values()].reduce((a, b) => a + b, 0n)).toBe(amount);
        for (const w of ws) {
          const share = shares.get(w.key) ?? 0n;
          const exactTimesTotal = amount * w.weight;
          expect(share * total <= exactTimesTotal + total && share * total >= exactTimesTotal - total).toBe(
            true,
          );
        }
      }),
    );
  });

  it('breaks ties the same way every time', () => {
    const shares = allocate(1n, [
      { key: 'b', weight: 1n },
      { key: 'a', weight: 1n },
    ]);
    expect(Object.fromEntries(shares)).toEqual({ a: 1n, b: 0n });
  });
});

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
