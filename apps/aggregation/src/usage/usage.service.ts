import { Injectable } from '@nestjs/common';
import { DAY_MS, HOUR_MS, RollupLedger } from '@metering/aggregation-data-access';
import { ClickHouse, ident, joinSql, raw, sql, type SqlFragment } from '@metering/clickhouse';
import { AppError } from '@metering/contracts';
import { UNIT, divideHalfEven, formatQuantity, type Meter, type Quantity } from '@metering/meters';
import { MeterCatalogService } from '../meters/meter-catalog.service';
import {
  USAGE_BUCKET_SUMS_TABLE,
  USAGE_DAILY_SUBJECTS_TABLE,
  USAGE_DAILY_TABLE,
  USAGE_HOURLY_TABLE,
  USAGE_PEAKS_TABLE,
  USAGE_SUBJECTS_TABLE,
  accountRows,
  bucketsTileHours,
  dedupedValues,
  groupValueOf,
  inTimeRanges,
} from '../rollups/rollup-tables';
import { METER_VALUES_TABLE } from '../clickhouse/usage-events.table';
import { MAX_WINDOWS, windowsOf, type UsageWindow } from './usage-windows';

export interface UsageQuery {
  meter: string;
  /** Always set: every ClickHouse query carries the account filter. */
  accountId: string;
  tenantId?: string;
  /** Pool only these tenants of the account (e.g. those on the account's plan). */
  tenantIds?: readonly string[];
  fromMs: number;
  toMs: number;
  window?: UsageWindow;
  /** One of the meter's groupBy properties: the usage is also pooled per value of it. */
  groupBy?: string;
}

/** At most this many distinct values of a groupBy property per query. */
export const MAX_GROUPS = 100;

/** The events whose groupBy `property` has `value` ('' for events without it). */
interface GroupFilter {
  property: string;
  value: string;
}

export interface TenantUsageView {
  tenantId: string;
  /** The tenant's own figure (for MAX meters its peak). */
  usage: string;
  /** Its part of `value` (for MAX meters its value in the peak bucket); the parts add up to `value`. */
  contribution: string;
  events: number;
}

export interface UsageResult {
  meter: string;
  aggregation: Meter['aggregation'];
  accountId: string;
  tenantId?: string;
  from: string;
  to: string;
  /** Pooled over the selected tenants per ARCHITECTURE.md §5, as an exact decimal string. */
  value: string;
  events: number;
  tenants: TenantUsageView[];
  /** MAX meters: start of the bucket where the pooled peak was reached. */
  peakBucketStart?: string;
  /** With `window`: the same, pooled within each window (clipped to the range). */
  windows?: UsageFigures[];
  /** With `groupBy`: the property, and the same figures over the range per value of it. */
  groupBy?: string;
  groups?: (UsageFigures & { group: string | null })[];
}

type UsageFigures = Omit<
  UsageResult,
  'meter' | 'aggregation' | 'accountId' | 'tenantId' | 'windows' | 'groupBy' | 'groups'
>;

interface TenantRow {
  tenant_id: string;
  events: string;
  total: string;
}

interface TenantFigures {
  tenantId: string;
  events: number;
  usage: Quantity;
  contribution: Quantity;
}

/**
 * Where a query reads: raw rows for the partial hours at the ends and for stale hours, rollups
 * for the rest — daily rollups for whole days that are current, hourly ones for other hours. A
 * source with nothing to read is null and left out of the query: ClickHouse reads at least a
 * granule of every part a condition cannot rule out by the primary key, even an always-false one.
 */
interface Sources {
  /** Deduplicated raw rows (tenant_id, event_id, t, s, v) outside the rollups' hours. */
  raw: SqlFragment | null;
  /** Condition on an hour-grained rollup table: the account, meter, tenant and every clean whole hour. */
  rollup: SqlFragment | null;
  /** The same on `usage_hourly`, without the hours that `usage_daily` answers for. */
  hourly: SqlFragment | null;
  /** Condition on `usage_daily`: the current whole days. */
  daily: SqlFragment | null;
  /** The query selects some of the account's tenants, not all. */
  someTenants: boolean;
}

/**
 * Usage pooled per ARCHITECTURE.md §5 in exact decimals: libs/meters' `UsagePool` is the
 * reference these queries must equal. Whole hours whose rollups are current are read from the
 * rollups; the partial hours at the range's ends and hours the rollup builder has not caught up
 * with are read from `meter_values`, deduplicated by (tenant, event id).
 */
@Injectable()
export class UsageService {
  constructor(
    private readonly ch: ClickHouse,
    private readonly meters: MeterCatalogService,
    private readonly ledger: RollupLedger,
  ) {}

  async usage(query: UsageQuery): Promise<UsageResult> {
    const meter = await this.meters.get(query.meter);
    if (query.toMs <= query.fromMs) {
      throw new AppError('invalid', 'invalid_range', '`to` must be after `from`', { field: 'to' });
    }
    const windows = query.window ? windowsOf(query.fromMs, query.toMs, query.window) : undefined;
    if (query.window && !windows) {
      throw new AppError('invalid', 'range_too_large', `at most ${MAX_WINDOWS} windows per query`, {
        field: 'window',
      });
    }
    const property = query.groupBy === undefined ? undefined : groupProperty(meter, query.groupBy);
    const whole = await this.over(meter, query);
    const perWindow = [];
    // Each window pooled on its own (a peak or a distinct count does not add up across windows).
    for (const w of windows ?? []) perWindow.push(await this.over(meter, { ...query, ...w }));
    const groups = [];
    // Each value of the property pooled on its own, from raw rows (rollups keep no groups).
    for (const value of property ? await this.groupValues(meter, query, property) : []) {
      groups.push({
        group: value === '' ? null : value,
        ...(await this.over(meter, query, { property: property!, value })),
      });
    }
    return {
      meter: meter.key,
      aggregation: meter.aggregation,
      accountId: query.accountId,
      ...(query.tenantId ? { tenantId: query.tenantId } : {}),
      ...whole,
      ...(windows ? { windows: perWindow } : {}),
      ...(property ? { groupBy: property, groups } : {}),
    };
  }

  /** The values the property takes in the query's rows ('' for rows without it), sorted. */
  private async groupValues(meter: Meter, q: UsageQuery, property: string): Promise<string[]> {
    const rows = await this.ch.query<{ g: string }>(sql`
      SELECT DISTINCT ${groupValueOf(property)} AS g FROM ${ident(METER_VALUES_TABLE)}
      WHERE ${accountRows(q.accountId, q.fromMs, q.toMs)} AND meter_key = ${meter.key} ${tenantFilter(q)}
      ORDER BY g LIMIT ${MAX_GROUPS + 1}`);
    if (rows.length > MAX_GROUPS) {
      throw new AppError(
        'invalid',
        'too_many_groups',
        `${property} takes more than ${MAX_GROUPS} values in this range; narrow it or filter by tenant`,
        { field: 'groupBy' },
      );
    }
    return rows.map((r) => r.g);
  }

  private async over(meter: Meter, query: UsageQuery, group?: GroupFilter): Promise<UsageFigures> {
    const src = group ? this.groupSources(meter, query, group) : await this.sources(meter, query);
    const { tenants, pooled, peakBucketMs } = await this.pool(meter, src);
    return {
      from: new Date(query.fromMs).toISOString(),
      to: new Date(query.toMs).toISOString(),
      value: formatQuantity(pooled),
      events: tenants.reduce((n, t) => n + t.events, 0),
      tenants: tenants.map((t) => ({
        tenantId: t.tenantId,
        usage: formatQuantity(t.usage),
        contribution: formatQuantity(t.contribution),
        events: t.events,
      })),
      ...(peakBucketMs === undefined ? {} : { peakBucketStart: new Date(peakBucketMs).toISOString() }),
    };
  }

  /** One value of a groupBy property: raw rows of the whole range, no rollups. */
  private groupSources(meter: Meter, q: UsageQuery, group: GroupFilter): Sources {
    return {
      raw: sql`(SELECT tenant_id, event_id, t, s, v FROM ${dedupedValues(
        q.accountId,
        q.fromMs,
        q.toMs,
        sql`AND meter_key = ${meter.key} ${tenantFilter(q)} AND ${groupValueOf(group.property)} = ${group.value}`,
      )})`,
      rollup: null,
      hourly: null,
      daily: null,
      // Peaks from each tenant's own maxima: the rolled-up bucket sums span every group.
      someTenants: true,
    };
  }

  private async sources(meter: Meter, q: UsageQuery): Promise<Sources> {
    const tenant = tenantFilter(q);
    const wholeFrom = Math.ceil(q.fromMs / HOUR_MS) * HOUR_MS;
    const wholeTo = Math.max(wholeFrom, Math.floor(q.toMs / HOUR_MS) * HOUR_MS);
    const state =
      wholeTo > wholeFrom
        ? await this.ledger.state(q.accountId, wholeFrom, wholeTo)
        : { staleHours: [], currentDays: [] };
    const days = state.currentDays.filter((d) => d >= wholeFrom && d + DAY_MS <= wholeTo);
    const whole = [{ fromMs: wholeFrom, toMs: wholeTo }];
    const staleRanges = state.staleHours.map((h) => ({ fromMs: h, toMs: h + HOUR_MS }));
    const dayRanges = days.map((d) => ({ fromMs: d, toMs: d + DAY_MS }));
    // Clean whole hours, with and without the hours the current days answer for.
    const cleanHours = subtractRanges(whole, staleRanges);
    const hourlyOnly = subtractRanges(cleanHours, dayRanges);
    const scope = sql`account_id = ${q.accountId} AND meter_key = ${meter.key} ${tenant}`;
    const rawRanges = [
      { fromMs: q.fromMs, toMs: Math.min(wholeFrom, q.toMs) },
      { fromMs: Math.max(wholeTo, q.fromMs), toMs: q.toMs },
      ...staleRanges,
    ].filter((r) => r.toMs > r.fromMs);
    const within = (ranges: Range[], column: 'hour_ms' | 'day_ms') =>
      ranges.length ? sql`${scope} AND ${inTimeRanges(ranges, column)}` : null;
    return {
      // Bounded by the raw ranges themselves, so the primary key skips the rest of the range.
      raw: rawRanges.length
        ? sql`(SELECT tenant_id, event_id, t, s, v FROM ${dedupedValues(
            q.accountId,
            Math.min(...rawRanges.map((r) => r.fromMs)),
            Math.max(...rawRanges.map((r) => r.toMs)),
            sql`AND meter_key = ${meter.key} ${tenant} AND ${inTimeRanges(rawRanges)}`,
          )})`
        : null,
      rollup: within(cleanHours, 'hour_ms'),
      hourly: within(hourlyOnly, 'hour_ms'),
      daily: within(dayRanges, 'day_ms'),
      someTenants: Boolean(q.tenantId ?? q.tenantIds?.length),
    };
  }

  /**
   * Per tenant: its events and one figure, from raw rows, hourly and daily rollups together.
   * `fromRaw` and `fromRollup` compute the same columns (figure columns, then `e` for events) per
   * tenant (the two rollup tables share their columns); `combine` folds them.
   */
  private perTenant(
    src: Sources,
    fromRaw: string,
    fromRollup: string,
    combine: string,
  ): Promise<TenantRow[]> {
    const parts = unionAll([
      src.raw &&
        sql`SELECT tenant_id, ${raw(fromRaw)}, toUInt64(count()) AS e FROM ${src.raw} GROUP BY tenant_id`,
      src.hourly &&
        sql`SELECT tenant_id, ${raw(fromRollup)}, sum(events) AS e
        FROM ${ident(USAGE_HOURLY_TABLE)} FINAL WHERE ${src.hourly} GROUP BY tenant_id`,
      src.daily &&
        sql`SELECT tenant_id, ${raw(fromRollup)}, sum(events) AS e
        FROM ${ident(USAGE_DAILY_TABLE)} FINAL WHERE ${src.daily} GROUP BY tenant_id`,
    ]);
    if (!parts) return Promise.resolve([]);
    return this.ch.query<TenantRow>(sql`
      SELECT tenant_id, toString(sum(e)) AS events, toString(${raw(combine)}) AS total FROM (
        ${parts}
      ) GROUP BY tenant_id ORDER BY tenant_id`);
  }

  /** Each tenant's events and exact sum of values. */
  private sums(src: Sources): Promise<TenantRow[]> {
    return this.perTenant(src, 'sum(toDecimal128(v, 0)) AS x', 'sum(total) AS x', 'sum(x)');
  }

  private async pool(
    meter: Meter,
    src: Sources,
  ): Promise<{ tenants: TenantFigures[]; pooled: Quantity; peakBucketMs?: number }> {
    const partial = (r: TenantRow, usage: Quantity, contribution = usage): TenantFigures => ({
      tenantId: r.tenant_id,
      events: Number(r.events),
      usage,
      contribution,
    });
    const total = (ts: TenantFigures[]) => ts.reduce((s, t) => s + t.contribution, 0n);
    switch (meter.aggregation) {
      case 'COUNT':
      case 'SUM': {
        const tenants = (await this.sums(src)).map((r) => partial(r, BigInt(r.total)));
        return { tenants, pooled: total(tenants) };
      }
      case 'LATEST': {
        // The value of the latest event, ties broken by event id, across raw rows and rollups.
        const rows = await this.perTenant(
          src,
          'argMax(v, tuple(t, event_id)) AS lv, max(t) AS lt, argMax(event_id, tuple(t, event_id)) AS li',
          'argMax(last_v, tuple(last_t, last_id)) AS lv, max(last_t) AS lt, argMax(last_id, tuple(last_t, last_id)) AS li',
          'argMax(lv, tuple(lt, li))',
        );
        const tenants = rows.map((r) => partial(r, BigInt(r.total)));
        return { tenants, pooled: total(tenants) };
      }
      case 'MIN': {
        const rows = await this.perTenant(src, 'min(v) AS m', 'min(min_v) AS m', 'min(m)');
        const tenants = rows.map((r) => partial(r, BigInt(r.total), 0n));
        const pooled = tenants.reduce((m, t) => (t.usage < m ? t.usage : m), tenants[0]?.usage ?? 0n);
        const holder = tenants.find((t) => t.usage === pooled);
        if (holder) holder.contribution = pooled;
        return { tenants, pooled };
      }
      case 'AVG': {
        const tenants = (await this.sums(src)).map((r) =>
          partial(r, divideHalfEven(BigInt(r.total), BigInt(r.events)), BigInt(r.total)),
        );
        const count = BigInt(tenants.reduce((n, t) => n + t.events, 0));
        return { tenants, pooled: count ? divideHalfEven(total(tenants), count) : 0n };
      }
      case 'UNIQUE_COUNT':
        return this.uniqueCount(meter, src);
      case 'MAX':
        return this.peakOfSums(meter, src);
      default: {
        const never: never = meter.aggregation;
        throw new Error(`unknown aggregation ${String(never)}`);
      }
    }
  }

  private async uniqueCount(
    meter: Meter,
    src: Sources,
  ): Promise<{ tenants: TenantFigures[]; pooled: Quantity }> {
    // Every sighting of a subject: raw rows of the hours not rolled up, and the rolled-up rows with
    // each tenant's first time per hour, or per day for the current days. No FINAL: a rebuild only
    // adds subjects or moves a first time earlier (raw data only grows), so older rows change
    // neither the distinct counts nor the minimum times below, and reading them is far cheaper
    // than merging at query time.
    const sightings = unionAll([
      src.raw && sql`SELECT tenant_id, s, t AS ft FROM ${src.raw} WHERE s != ''`,
      src.hourly &&
        sql`SELECT tenant_id, subject AS s, first_t AS ft FROM ${ident(USAGE_SUBJECTS_TABLE)} WHERE ${src.hourly}`,
      src.daily &&
        sql`SELECT tenant_id, subject AS s, first_t AS ft FROM ${ident(USAGE_DAILY_SUBJECTS_TABLE)} WHERE ${src.daily}`,
    ]);
    if (!sightings) return { tenants: [], pooled: 0n };
    const [events, distinct] = await Promise.all([
      this.sums(src),
      this.ch.query<{ tenant_id: string; n: string }>(
        sql`SELECT tenant_id, toString(uniqExact(s)) AS n FROM (${sightings}) GROUP BY tenant_id`,
      ),
    ]);
    const users = new Map(distinct.map((d) => [d.tenant_id, BigInt(d.n) * UNIT]));
    const tenants = events.map((r) => {
      const usage = users.get(r.tenant_id) ?? 0n;
      return { tenantId: r.tenant_id, events: Number(r.events), usage, contribution: usage };
    });
    if (meter.pooling === 'distinct-across-tenants') {
      // A subject seen in several tenants counts once, for the tenant that saw it first.
      const owners = await this.ch.query<{ owner: string; n: string }>(sql`
        SELECT owner, toString(count()) AS n FROM (
          SELECT s, argMin(tenant_id, tuple(ft, tenant_id)) AS owner FROM (${sightings}) GROUP BY s
        ) GROUP BY owner`);
      const owned = new Map(owners.map((o) => [o.owner, BigInt(o.n) * UNIT]));
      for (const t of tenants) t.contribution = owned.get(t.tenantId) ?? 0n;
    }
    return { tenants, pooled: tenants.reduce((s, t) => s + t.contribution, 0n) };
  }

  private async peakOfSums(
    meter: Meter,
    src: Sources,
  ): Promise<{ tenants: TenantFigures[]; pooled: Quantity; peakBucketMs?: number }> {
    const bucketMs = (meter.bucketSeconds ?? 60) * 1000;
    // Bucket sums cover every tenant of the account: a query over some tenants sums their own maxima.
    if (!bucketsTileHours(bucketMs) || src.someTenants) return this.peakOfSumsPerTenant(meter, src);
    const rawBuckets =
      src.raw &&
      sql`(
      SELECT tenant_id, intDiv(t, ${bucketMs}) * ${bucketMs} AS b, max(v) AS mv FROM ${src.raw} GROUP BY tenant_id, b
    )`;
    // The pooled peak: the bucket with the largest sum over tenants, from raw buckets and the
    // rolled-up bucket sums (a bucket lies wholly in one or the other, as buckets tile hours).
    const totals = unionAll([
      rawBuckets && sql`SELECT b, sum(toDecimal128(mv, 0)) AS total FROM ${rawBuckets} GROUP BY b`,
      src.rollup &&
        sql`SELECT bucket_ms AS b, total FROM ${ident(USAGE_BUCKET_SUMS_TABLE)} FINAL WHERE ${src.rollup}`,
    ]);
    if (!totals) return { tenants: [], pooled: 0n };
    // The earliest bucket holding the largest total. Compared as text: 18.16 sorts Decimal128 slowly
    // and refuses to compare a Decimal128 column with a scalar subquery's Decimal128.
    const [peak] = await this.ch.query<{ b: string; n: string }>(sql`
      SELECT toString(min(b)) AS b, toString(count()) AS n FROM (${totals})
      WHERE toString(total) = (SELECT toString(max(total)) FROM (${totals}))`);
    if (!peak || peak.n === '0') return { tenants: [], pooled: 0n };
    const b = Number(peak.b);
    const [peaks, atPeak] = await Promise.all([
      this.perTenant(src, 'max(v) AS m', 'max(max_v) AS m', 'max(m)'),
      this.ch.query<{ tenant_id: string; v: string }>(sql`
        SELECT tenant_id, toString(max(mv)) AS v FROM (
          ${unionAll([
            rawBuckets && sql`SELECT tenant_id, mv FROM ${rawBuckets} WHERE b = ${b}`,
            src.rollup &&
              sql`SELECT tenant_id, max_v AS mv FROM ${ident(USAGE_PEAKS_TABLE)} FINAL
          WHERE ${src.rollup} AND hour_ms = ${Math.floor(b / HOUR_MS) * HOUR_MS} AND bucket_ms = ${b}`,
          ])}
        ) GROUP BY tenant_id`),
    ]);
    const contribution = new Map(atPeak.map((r) => [r.tenant_id, BigInt(r.v)]));
    const tenants = peaks.map((r) => ({
      tenantId: r.tenant_id,
      events: Number(r.events),
      usage: BigInt(r.total),
      contribution: contribution.get(r.tenant_id) ?? 0n,
    }));
    // The pooled figure from the parts, so they always add up.
    const pooled = tenants.reduce((sum, t) => sum + t.contribution, 0n);
    return { tenants, pooled, peakBucketMs: b };
  }

  /** Peaks of gauges whose buckets are longer than an hour: from each tenant's maximum per bucket. */
  private async peakOfSumsPerTenant(
    meter: Meter,
    src: Sources,
  ): Promise<{ tenants: TenantFigures[]; pooled: Quantity; peakBucketMs?: number }> {
    const bucketMs = (meter.bucketSeconds ?? 60) * 1000;
    // Each tenant's maximum per bucket; the pooled peak is the bucket with the largest sum.
    const parts = unionAll([
      src.raw &&
        sql`SELECT tenant_id, intDiv(t, ${bucketMs}) * ${bucketMs} AS b, max(v) AS mv, toUInt64(count()) AS n
        FROM ${src.raw} GROUP BY tenant_id, b`,
      src.rollup &&
        sql`SELECT tenant_id, bucket_ms AS b, max(max_v) AS mv, sum(events) AS n
        FROM ${ident(USAGE_PEAKS_TABLE)} FINAL WHERE ${src.rollup} GROUP BY tenant_id, b`,
    ]);
    if (!parts) return { tenants: [], pooled: 0n };
    const perBucket = sql`(
      SELECT tenant_id, b, max(mv) AS mv, sum(n) AS n FROM (${parts}) GROUP BY tenant_id, b
    )`;
    const [peak] = await this.ch.query<{ b: string }>(sql`
      SELECT toString(b) AS b FROM ${perBucket} GROUP BY b ORDER BY sum(toDecimal128(mv, 0)) DESC, b ASC LIMIT 1`);
    if (!peak) return { tenants: [], pooled: 0n };
    const rows = await this.ch.query<{
      tenant_id: string;
      events: string;
      peak: string;
      at_peak: string;
    }>(sql`
      SELECT tenant_id, toString(sum(n)) AS events, toString(max(mv)) AS peak,
             toString(sumIf(mv, b = ${Number(peak.b)})) AS at_peak
      FROM ${perBucket} GROUP BY tenant_id ORDER BY tenant_id`);
    const tenants = rows.map((r) => ({
      tenantId: r.tenant_id,
      events: Number(r.events),
      usage: BigInt(r.peak),
      contribution: BigInt(r.at_peak),
    }));
    // The pooled figure from the same read as the parts, so they always add up.
    const pooled = tenants.reduce((sum, t) => sum + t.contribution, 0n);
    return { tenants, pooled, peakBucketMs: Number(peak.b) };
  }
}

type Range = { fromMs: number; toMs: number };

/** The sources of a read that have rows to give, as one UNION ALL; null when none has. */
function unionAll(parts: (SqlFragment | null)[]): SqlFragment | null {
  const present = parts.filter((p): p is SqlFragment => p !== null);
  return present.length ? joinSql(present, ' UNION ALL ') : null;
}

/** The query's tenants as a condition to append (`AND …`), or nothing for all of the account's. */
function tenantFilter(q: UsageQuery): SqlFragment {
  if (q.tenantId) return sql`AND tenant_id = ${q.tenantId}`;
  if (q.tenantIds?.length) return sql`AND has(${q.tenantIds}, tenant_id)`;
  return raw('');
}

/**
 * The groupBy property a query names: one of the meter's groupBy properties. `tenant` asks for
 * the per-tenant breakdown every answer has anyway, unless the meter has a property of that name.
 */
function groupProperty(meter: Meter, groupBy: string): string | undefined {
  if (meter.groupBy.includes(groupBy)) return groupBy;
  if (groupBy === 'tenant') return undefined;
  throw new AppError(
    'invalid',
    'unknown_group',
    `meter ${meter.key} groups by ${meter.groupBy.length ? meter.groupBy.join(', ') : 'no property'} (and tenant)`,
    { field: 'groupBy' },
  );
}

/** The parts of `ranges` outside every range of `holes` (both sorted or not; result sorted). */
export function subtractRanges(ranges: readonly Range[], holes: readonly Range[]): Range[] {
  const sortedHoles = [...holes].sort((a, b) => a.fromMs - b.fromMs);
  const out: Range[] = [];
  for (const r of [...ranges].sort((a, b) => a.fromMs - b.fromMs)) {
    let start = r.fromMs;
    for (const h of sortedHoles) {
      if (h.toMs <= start || h.fromMs >= r.toMs) continue;
      if (h.fromMs > start) out.push({ fromMs: start, toMs: h.fromMs });
      start = Math.max(start, h.toMs);
    }
    if (start < r.toMs) out.push({ fromMs: start, toMs: r.toMs });
  }
  return out;
}
