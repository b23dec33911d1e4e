import type { Meter } from './meter';
import { UNIT, divideHalfEven, type Quantity } from './quantity';

/** One deduplicable event as a meter sees it. `value` is ignored by COUNT and UNIQUE_COUNT. */
export interface PoolableEvent {
  tenantId: string;
  eventId: string;
  timeMs: number;
  subject?: string;
  value: Quantity;
}

export interface TenantUsage {
  tenantId: string;
  /** The tenant's own figure for the meter (for MAX: its peak over buckets). */
  usage: Quantity;
  /** Its part of the pooled figure; the parts add up to `pooled` exactly (weights for AVG). */
  contribution: Quantity;
}

export interface PooledUsage {
  meterKey: string;
  pooled: Quantity;
  /** Sorted by tenant id. */
  tenants: TenantUsage[];
  /** MAX meters: start of the bucket where the pooled peak was reached (earliest on ties). */
  peakBucketStartMs?: number;
}

/**
 * Pooled usage of one meter over a set of events (ARCHITECTURE.md §5), as the reference for
 * what ClickHouse queries must return. Events are deduplicated by (tenant, event id) first, so
 * the result does not depend on order, batching or redelivery.
 */
export class UsagePool {
  private readonly events = new Map<string, PoolableEvent>();

  constructor(readonly meter: Meter) {}

  /** Adds a batch; an event already seen (same tenant and id) is ignored. */
  add(batch: Iterable<PoolableEvent>): this {
    for (const e of batch) {
      const key = `${e.tenantId}\u0000${e.eventId}`;
      if (!this.events.has(key)) this.events.set(key, e);
    }
    return this;
  }

  result(): PooledUsage {
    const byTenant = new Map<string, PoolableEvent[]>();
    for (const e of this.events.values()) {
      const list = byTenant.get(e.tenantId) ?? [];
      list.push(e);
      byTenant.set(e.tenantId, list);
    }
    const tenantIds = [...byTenant.keys()].sort();
    const perTenant = tenantIds.map((id) => [id, byTenant.get(id) ?? []] as const);
    const base = { meterKey: this.meter.key };
    switch (this.meter.aggregation) {
      case 'COUNT':
      case 'SUM': {
        const value = this.meter.aggregation === 'COUNT' ? () => UNIT : (e: PoolableEvent) => e.value;
        const tenants = perTenant.map(([tenantId, es]) => {
          const usage = sum(es.map(value));
          return { tenantId, usage, contribution: usage };
        });
        return { ...base, pooled: sum(tenants.map((t) => t.usage)), tenants };
      }
      case 'UNIQUE_COUNT':
        return { ...base, ...uniqueCount(perTenant, this.meter.pooling === 'distinct-across-tenants') };
      case 'MAX':
        return { ...base, ...peakOfSums(perTenant, (this.meter.bucketSeconds ?? 60) * 1000) };
      case 'MIN': {
        const tenants = perTenant.map(([tenantId, es]) => {
          const usage = es.reduce((m, e) => (e.value < m ? e.value : m), es[0].value);
          return { tenantId, usage, contribution: 0n };
        });
        const pooled = tenants.reduce((m, t) => (t.usage < m ? t.usage : m), tenants[0]?.usage ?? 0n);
        const holder = tenants.find((t) => t.usage === pooled);
        if (holder) holder.contribution = pooled;
        return { ...base, pooled, tenants };
      }
      case 'LATEST': {
        const tenants = perTenant.map(([tenantId, es]) => {
          const usage = es.reduce((a, b) => (later(b, a) ? b : a)).value;
          return { tenantId, usage, contribution: usage };
        });
        return { ...base, pooled: sum(tenants.map((t) => t.usage)), tenants };
      }
      case 'AVG': {
        const count = BigInt(this.events.size);
        const tenants = perTenant.map(([tenantId, es]) => ({
          tenantId,
          usage: divideHalfEven(sum(es.map((e) => e.value)), BigInt(es.length)),
          contribution: sum(es.map((e) => e.value)),
        }));
        const pooled = count ? divideHalfEven(sum(tenants.map((t) => t.contribution)), count) : 0n;
        return { ...base, pooled, tenants };
      }
      default: {
        const never: never = this.meter.aggregation;
        throw new Error(`unknown aggregation ${String(never)}`);
      }
    }
  }
}

const sum = (values: Quantity[]): Quantity => values.reduce((a, b) => a + b, 0n);

/** Later in time; on equal times the larger event id, so the choice never depends on order. */
const later = (a: PoolableEvent, b: PoolableEvent) =>
  a.timeMs !== b.timeMs ? a.timeMs > b.timeMs : a.eventId > b.eventId;

function uniqueCount(
  perTenant: (readonly [string, PoolableEvent[]])[],
  distinctAcrossTenants: boolean,
): Omit<PooledUsage, 'meterKey'> {
  const subjectsOf = (es: PoolableEvent[]) => new Set(es.flatMap((e) => (e.subject ? [e.subject] : [])));
  const tenants = perTenant.map(([tenantId, es]) => {
    const usage = BigInt(subjectsOf(es).size) * UNIT;
    return { tenantId, usage, contribution: usage };
  });
  if (!distinctAcrossTenants) return { pooled: sum(tenants.map((t) => t.usage)), tenants };
  // A subject active in several tenants counts once, for the tenant that saw it first.
  const firstSeen = new Map<string, PoolableEvent>();
  for (const [, es] of perTenant) {
    for (const e of es) {
      if (!e.subject) continue;
      const seen = firstSeen.get(e.subject);
      if (!seen || e.timeMs < seen.timeMs || (e.timeMs === seen.timeMs && e.tenantId < seen.tenantId)) {
        firstSeen.set(e.subject, e);
      }
    }
  }
  const owned = new Map<string, number>();
  for (const e of firstSeen.values()) owned.set(e.tenantId, (owned.get(e.tenantId) ?? 0) + 1);
  for (const t of tenants) t.contribution = BigInt(owned.get(t.tenantId) ?? 0) * UNIT;
  return { pooled: BigInt(firstSeen.size) * UNIT, tenants };
}

function peakOfSums(
  perTenant: (readonly [string, PoolableEvent[]])[],
  bucketMs: number,
): Omit<PooledUsage, 'meterKey'> {
  // Each tenant's max per bucket, then per bucket the sum across tenants.
  const tenantBuckets = perTenant.map(([tenantId, es]) => {
    const buckets = new Map<number, Quantity>();
    for (const e of es) {
      const b = Math.floor(e.timeMs / bucketMs) * bucketMs;
      const current = buckets.get(b);
      if (current === undefined || e.value > current) buckets.set(b, e.value);
    }
    return { tenantId, buckets };
  });
  const totals = new Map<number, Quantity>();
  for (const { buckets } of tenantBuckets) {
    for (const [b, v] of buckets) totals.set(b, (totals.get(b) ?? 0n) + v);
  }
  let peakBucket: number | undefined;
  let pooled = 0n;
  for (const [b, total] of [...totals].sort((x, y) => x[0] - y[0])) {
    if (peakBucket === undefined || total > pooled) {
      peakBucket = b;
      pooled = total;
    }
  }
  const tenants = tenantBuckets.map(({ tenantId, buckets }) => ({
    tenantId,
    usage: [...buckets.values()].reduce((m, v) => (v > m ? v : m)),
    contribution: peakBucket === undefined ? 0n : (buckets.get(peakBucket) ?? 0n),
  }));
  return { pooled, tenants, ...(peakBucket === undefined ? {} : { peakBucketStartMs: peakBucket }) };
}

/** Usage above the included quantity; zero at or below it. */
export const overage = (pooled: Quantity, included: Quantity): Quantity =>
  pooled > included ? pooled - included : 0n;

/**
 * Splits `amount` (integer minor units or nano-units) among weights proportionally, rounding
 * down and giving the leftover units to the largest remainders (ties: larger weight, then key),
 * so the shares add up to `amount` exactly and each is within one unit of its exact share.
 */
export function allocate(amount: bigint, weights: { key: string; weight: bigint }[]): Map<string, bigint> {
  const total = weights.reduce((s, w) => s + w.weight, 0n);
  const shares = new Map<string, bigint>(weights.map((w) => [w.key, 0n]));
  if (total <= 0n || weights.length === 0) {
    if (amount !== 0n && weights.length) throw new RangeError('cannot allocate an amount over zero weights');
    return shares;
  }
  const parts = weights.map((w) => {
    const exact = amount * w.weight;
    const floor = exact / total - (exact % total < 0n ? 1n : 0n);
    return { ...w, floor, remainder: exact - floor * total };
  });
  let left = amount - parts.reduce((s, p) => s + p.floor, 0n);
  const order = [...parts].sort((a, b) =>
    a.remainder !== b.remainder
      ? a.remainder > b.remainder
        ? -1
        : 1
      : a.weight !== b.weight
        ? a.weight > b.weight
          ? -1
          : 1
        : a.key < b.key
          ? -1
          : 1,
  );
  for (const p of parts) shares.set(p.key, p.floor);
  for (const p of order) {
    if (left <= 0n) break;
    shares.set(p.key, (shares.get(p.key) ?? 0n) + 1n);
    left--;
  }
  return shares;
}
