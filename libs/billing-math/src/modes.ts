import { divideHalfEven, type Aggregation, type PoolingRule, type Quantity } from '@metering/meters';
import { BillingMathError, BillingMathErrorCode } from './errors';

/** `[fromMs, toMs)`: an instant exactly at `toMs` is outside. */
export interface TimeRange {
  fromMs: number;
  toMs: number;
}

/**
 * A tenant billed on its own subscription during `[fromMs, toMs)` instead of the account's pool
 * (`toMs` is `Infinity` while the subscription lasts). Outside its spans a tenant is pooled.
 */
export interface OwnPlanSpan extends TimeRange {
  tenantId: string;
  subscriptionId: string;
}

export type BillingMode = { mode: 'pooled' } | { mode: 'tenant'; subscriptionId: string };

/**
 * The split rule: at `atMs` a tenant is billed by the own subscription whose span contains the
 * instant (`fromMs <= atMs < toMs`), otherwise by the pool. An event exactly at a switch instant
 * therefore belongs to the mode that starts there.
 */
export function modeAt(spans: readonly OwnPlanSpan[], tenantId: string, atMs: number): BillingMode {
  const span = spans.find((s) => s.tenantId === tenantId && s.fromMs <= atMs && atMs < s.toMs);
  return span ? { mode: 'tenant', subscriptionId: span.subscriptionId } : { mode: 'pooled' };
}

/** The part of `range` inside `within`, or undefined when they do not overlap. */
export function clipRange(range: TimeRange, within: TimeRange): TimeRange | undefined {
  const fromMs = Math.max(range.fromMs, within.fromMs);
  const toMs = Math.min(range.toMs, within.toMs);
  return fromMs < toMs ? { fromMs, toMs } : undefined;
}

/** The parts of `range` in which the tenant is pooled, in order. */
export function pooledRanges(range: TimeRange, spans: readonly OwnPlanSpan[], tenantId: string): TimeRange[] {
  const own = spans
    .filter((s) => s.tenantId === tenantId)
    .map((s) => clipRange(s, range))
    .filter((r): r is TimeRange => r !== undefined)
    .sort((a, b) => a.fromMs - b.fromMs);
  const out: TimeRange[] = [];
  let from = range.fromMs;
  for (const r of own) {
    if (r.fromMs > from) out.push({ fromMs: from, toMs: r.fromMs });
    from = Math.max(from, r.toMs);
  }
  if (from < range.toMs) out.push({ fromMs: from, toMs: range.toMs });
  return out;
}

/** A part of a range in which the same tenants are on their own plans (`ownPlan`, sorted). */
export interface PoolSegment extends TimeRange {
  ownPlan: string[];
}

/** `range` cut at every switch instant inside it: within a segment the pool's members do not change. */
export function poolSegments(range: TimeRange, spans: readonly OwnPlanSpan[]): PoolSegment[] {
  const cuts = new Set([range.fromMs, range.toMs]);
  for (const s of spans) {
    for (const t of [s.fromMs, s.toMs]) if (t > range.fromMs && t < range.toMs) cuts.add(t);
  }
  const points = [...cuts].sort((a, b) => a - b);
  return points.slice(1).map((toMs, i) => {
    const fromMs = points[i];
    const ownPlan = [
      ...new Set(spans.filter((s) => s.fromMs <= fromMs && fromMs < s.toMs).map((s) => s.tenantId)),
    ].sort();
    return { fromMs, toMs, ownPlan };
  });
}

// ---- pooled usage over a changing membership ----

export interface TenantFigures {
  tenantId: string;
  /** The tenant's own figure (for MAX its peak). */
  usage: Quantity;
  /** Its part of the pooled figure (AVG: its sum of values). */
  contribution: Quantity;
  events: number;
}

/** One meter's usage as aggregation pools it over some tenants and a range (ARCHITECTURE.md §5). */
export interface MeterFigures {
  meterKey: string;
  pooled: Quantity;
  tenants: TenantFigures[];
}

/** How a meter pools, from the meter catalog. */
export interface PoolMeter {
  key: string;
  aggregation: Aggregation;
  pooling: PoolingRule;
}

export interface UsageRequest extends TimeRange {
  meterKeys: string[];
  /** Pool only these tenants (never empty); absent: every tenant of the account. */
  tenantIds?: string[];
}

/** Aggregation's pooled usage of one account (`GetPeriodUsage`, or the usage service in-process). */
export type UsageReader = (request: UsageRequest) => Promise<MeterFigures[]>;

const byTenantId = (a: { tenantId: string }, b: { tenantId: string }) =>
  a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0;

const notExact = (meterKey: string, reason: string) =>
  new BillingMathError(
    BillingMathErrorCode.POOL_NOT_EXACT,
    `${meterKey}: pooled usage cannot be computed exactly: ${reason}`,
    { meterKey },
    'conflict',
  );

/** One tenant's figures of a meter over several disjoint ranges (in time order) as one. */
function combineTenant(meter: PoolMeter, parts: TenantFigures[]): TenantFigures {
  const tenantId = parts[0].tenantId;
  const events = parts.reduce((n, p) => n + p.events, 0);
  const total = parts.reduce((s, p) => s + p.contribution, 0n);
  switch (meter.aggregation) {
    case 'SUM':
    case 'COUNT':
      return { tenantId, events, usage: parts.reduce((s, p) => s + p.usage, 0n), contribution: total };
    case 'AVG':
      return {
        tenantId,
        events,
        contribution: total,
        usage: events ? divideHalfEven(total, BigInt(events)) : 0n,
      };
    case 'LATEST': {
      const last = parts[parts.length - 1];
      return { tenantId, events, usage: last.usage, contribution: last.usage };
    }
    case 'MIN': {
      const usage = parts.reduce((m, p) => (p.usage < m ? p.usage : m), parts[0].usage);
      return { tenantId, events, usage, contribution: 0n };
    }
    case 'UNIQUE_COUNT':
      // Distinct subjects of two ranges do not add up; one range per tenant keeps them exact.
      if (parts.length > 1) {
        throw notExact(
          meter.key,
          `tenant ${tenantId} is pooled in ${parts.length} separate parts of the range`,
        );
      }
      return parts[0];
    case 'MAX':
      throw new RangeError('MAX meters are pooled per segment');
    default: {
      const never: never = meter.aggregation;
      throw new Error(`unknown aggregation ${String(never)}`);
    }
  }
}

/** The pooled figure from the tenants' figures, as aggregation pools (libs/meters `UsagePool`). */
function poolTenants(meter: PoolMeter, tenants: TenantFigures[]): MeterFigures {
  const sorted = [...tenants].sort(byTenantId);
  const sum = sorted.reduce((s, t) => s + t.contribution, 0n);
  switch (meter.aggregation) {
    case 'AVG': {
      const events = sorted.reduce((n, t) => n + t.events, 0);
      return {
        meterKey: meter.key,
        tenants: sorted,
        pooled: events ? divideHalfEven(sum, BigInt(events)) : 0n,
      };
    }
    case 'MIN': {
      const pooled = sorted.reduce((m, t) => (t.usage < m ? t.usage : m), sorted[0]?.usage ?? 0n);
      const holder = sorted.findIndex((t) => t.usage === pooled);
      return {
        meterKey: meter.key,
        pooled,
        tenants: sorted.map((t, i) => ({ ...t, contribution: i === holder ? pooled : 0n })),
      };
    }
    default:
      return { meterKey: meter.key, pooled: sum, tenants: sorted };
  }
}

interface Answered {
  request: UsageRequest;
  figures: Map<string, MeterFigures>;
}

async function ask(read: UsageReader, request: UsageRequest): Promise<Answered> {
  const figures = await read(request);
  return { request, figures: new Map(figures.map((f) => [f.meterKey, f])) };
}

const empty = (meterKey: string): MeterFigures => ({ meterKey, pooled: 0n, tenants: [] });

export interface PoolQuery {
  read: UsageReader;
  meterKeys: string[];
  range: TimeRange;
  /** Own-plan spans of the account's tenants (any range; those outside `range` are ignored). */
  spans: readonly OwnPlanSpan[];
  /** How the meters pool; asked only when a tenant with usage in the range changed its mode in it. */
  meterKinds: () => Promise<readonly PoolMeter[]>;
}

/**
 * Pooled usage of an account over `range`, counting each tenant only while it is pooled (outside
 * its own-plan spans). With no tenant on its own plan within the range it is one read. Otherwise
 * tenants are read per pooled part of the range and their figures pooled again by the meter's
 * aggregation — exact for every aggregation as long as a tenant is pooled in one part of the range
 * (or the meter adds up over parts: SUM, COUNT, AVG, MIN, LATEST). MAX meters are pooled per
 * segment of unchanged membership and the peak is the largest segment peak: a bucket cut by a
 * switch instant counts as two buckets, before and after it. A `distinct-across-tenants` meter
 * whose pooled tenants do not all share one part cannot be pooled exactly from such reads and is
 * refused (`pool_not_exact`) rather than counted twice.
 */
export async function pooledUsage(query: PoolQuery): Promise<MeterFigures[]> {
  const { read, meterKeys, range } = query;
  const inRange = query.spans.filter((s) => clipRange(s, range));
  const everyone = await read({ ...range, meterKeys });
  const switched = new Set(inRange.map((s) => s.tenantId));
  const seen = new Set(everyone.flatMap((m) => m.tenants.map((t) => t.tenantId)));
  if (![...seen].some((t) => switched.has(t))) return everyone;
  const kinds = new Map((await query.meterKinds()).map((m) => [m.key, m]));
  const meters = meterKeys.map((key) => {
    const meter = kinds.get(key);
    if (!meter) throw new RangeError(`meter ${key} is not in the catalog`);
    return meter;
  });

  const steady = [...seen].filter((t) => !switched.has(t)).sort();
  const additive = meters.filter((m) => m.aggregation !== 'MAX');
  const peaks = meters.filter((m) => m.aggregation === 'MAX');

  // Per pooled part of the range, the tenants pooled in it (steady tenants: the whole range).
  const parts = new Map<string, { range: TimeRange; tenantIds: string[] }>();
  const addPart = (r: TimeRange, tenantId: string) => {
    const key = `${r.fromMs}:${r.toMs}`;
    const part = parts.get(key) ?? { range: r, tenantIds: [] };
    part.tenantIds.push(tenantId);
    parts.set(key, part);
  };
  for (const t of steady) addPart(range, t);
  for (const t of [...seen].filter((x) => switched.has(x)).sort()) {
    for (const r of pooledRanges(range, inRange, t)) addPart(r, t);
  }
  const partReads = additive.length
    ? await Promise.all(
        [...parts.values()]
          .sort((a, b) => a.range.fromMs - b.range.fromMs || a.range.toMs - b.range.toMs)
          .map((p) =>
            ask(read, { ...p.range, meterKeys: additive.map((m) => m.key), tenantIds: p.tenantIds }),
          ),
      )
    : [];
  const segmentReads = peaks.length
    ? await Promise.all(
        poolSegments(range, inRange)
          .map((s) => ({ s, tenantIds: [...seen].filter((t) => !s.ownPlan.includes(t)).sort() }))
          .filter(({ tenantIds }) => tenantIds.length)
          .map(({ s, tenantIds }) =>
            ask(read, { fromMs: s.fromMs, toMs: s.toMs, meterKeys: peaks.map((m) => m.key), tenantIds }),
          ),
      )
    : [];

  return meters.map((meter) => {
    if (meter.aggregation === 'MAX') return peakOfSegments(meter.key, segmentReads);
    const answers = partReads.map((a) => a.figures.get(meter.key) ?? empty(meter.key));
    if (meter.aggregation === 'UNIQUE_COUNT' && meter.pooling === 'distinct-across-tenants') {
      const used = answers.filter((a) => a.tenants.length);
      if (used.length > 1) {
        throw notExact(meter.key, 'a subject seen by tenants pooled over different parts of the range');
      }
      return used[0] ?? empty(meter.key);
    }
    const perTenant = new Map<string, TenantFigures[]>();
    for (const answer of answers) {
      for (const t of answer.tenants) perTenant.set(t.tenantId, [...(perTenant.get(t.tenantId) ?? []), t]);
    }
    return poolTenants(
      meter,
      [...perTenant.values()].map((ps) => combineTenant(meter, ps)),
    );
  });
}

/** The largest segment peak (the earliest on ties) with its tenants' parts; peaks of the others per tenant. */
function peakOfSegments(meterKey: string, reads: Answered[]): MeterFigures {
  const answers = reads
    .map((r) => r.figures.get(meterKey) ?? empty(meterKey))
    .filter((a) => a.tenants.some((t) => t.events > 0));
  if (!answers.length) return empty(meterKey);
  const peak = answers.reduce((best, a) => (a.pooled > best.pooled ? a : best));
  const tenants = new Map<string, TenantFigures>();
  for (const answer of answers) {
    for (const t of answer.tenants) {
      const known = tenants.get(t.tenantId);
      tenants.set(t.tenantId, {
        tenantId: t.tenantId,
        events: (known?.events ?? 0) + t.events,
        usage: known && known.usage > t.usage ? known.usage : t.usage,
        contribution: 0n,
      });
    }
  }
  for (const t of peak.tenants) tenants.get(t.tenantId)!.contribution = t.contribution;
  return { meterKey, pooled: peak.pooled, tenants: [...tenants.values()].sort(byTenantId) };
}
