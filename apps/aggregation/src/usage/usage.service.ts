import { Injectable } from '@nestjs/common';
import { ClickHouse, ident, raw, sql, type SqlFragment } from '@metering/clickhouse';
import { AppError } from '@metering/contracts';
import { UNIT, divideHalfEven, formatQuantity, type Meter, type Quantity } from '@metering/meters';
import { METER_VALUES_TABLE } from '../clickhouse/usage-events.table';
import { MeterCatalogService } from '../meters/meter-catalog.service';
import { MAX_WINDOWS, windowsOf, type UsageWindow } from './usage-windows';

export interface UsageQuery {
  meter: string;
  accountId?: string;
  tenantId?: string;
  fromMs: number;
  toMs: number;
  window?: UsageWindow;
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
  accountId?: string;
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
  windows?: Omit<UsageResult, 'meter' | 'aggregation' | 'accountId' | 'tenantId' | 'windows'>[];
}

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
 * Usage read from `meter_values`, deduplicated by (tenant, event id), pooled per ARCHITECTURE.md
 * §5 in exact decimals: libs/meters' `UsagePool` is the reference these queries must equal.
 */
@Injectable()
export class UsageService {
  constructor(
    private readonly ch: ClickHouse,
    private readonly meters: MeterCatalogService,
  ) {}

  async usage(query: UsageQuery): Promise<UsageResult> {
    const meter = await this.meters.get(query.meter);
    if (!query.accountId && !query.tenantId) {
      throw new AppError('invalid', 'validation_failed', 'name an accountId or a tenantId', {
        field: 'accountId',
      });
    }
    if (query.toMs <= query.fromMs) {
      throw new AppError('invalid', 'invalid_range', '`to` must be after `from`', { field: 'to' });
    }
    const windows = query.window ? windowsOf(query.fromMs, query.toMs, query.window) : undefined;
    if (query.window && !windows) {
      throw new AppError('invalid', 'range_too_large', `at most ${MAX_WINDOWS} windows per query`, {
        field: 'window',
      });
    }
    const whole = await this.over(meter, query);
    const perWindow = [];
    // Each window pooled on its own (a peak or a distinct count does not add up across windows).
    for (const w of windows ?? []) perWindow.push(await this.over(meter, { ...query, ...w }));
    return {
      meter: meter.key,
      aggregation: meter.aggregation,
      ...(query.accountId ? { accountId: query.accountId } : {}),
      ...(query.tenantId ? { tenantId: query.tenantId } : {}),
      ...whole,
      ...(windows ? { windows: perWindow } : {}),
    };
  }

  private async over(meter: Meter, query: UsageQuery): Promise<NonNullable<UsageResult['windows']>[number]> {
    const { tenants, pooled, peakBucketMs } = await this.pool(meter, this.deduplicated(meter, query));
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

  /** One row per (tenant, event id): redelivered copies collapse here even before merges. */
  private deduplicated(meter: Meter, q: UsageQuery): SqlFragment {
    const account = q.accountId ? sql`AND account_id = ${q.accountId}` : raw('');
    const tenant = q.tenantId ? sql`AND tenant_id = ${q.tenantId}` : raw('');
    return sql`(
      SELECT tenant_id, event_id, any(time_ms) AS t, any(subject) AS s, any(value_nano) AS v
      FROM ${ident(METER_VALUES_TABLE)}
      WHERE meter_key = ${meter.key} ${account} ${tenant}
        AND time_ms >= ${q.fromMs} AND time_ms < ${q.toMs}
      GROUP BY tenant_id, event_id
    )`;
  }

  /** Per tenant: its events and one figure, as the aggregation needs it. */
  private perTenant(deduped: SqlFragment, total: SqlFragment): Promise<TenantRow[]> {
    return this.ch.query<TenantRow>(sql`
      SELECT tenant_id, toString(count()) AS events, toString(${total}) AS total
      FROM ${deduped} GROUP BY tenant_id ORDER BY tenant_id`);
  }

  private async pool(
    meter: Meter,
    deduped: SqlFragment,
  ): Promise<{ tenants: TenantFigures[]; pooled: Quantity; peakBucketMs?: number }> {
    const sum = raw('sum(toDecimal128(v, 0))');
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
        const tenants = (await this.perTenant(deduped, sum)).map((r) => partial(r, BigInt(r.total)));
        return { tenants, pooled: total(tenants) };
      }
      case 'LATEST': {
        const latest = raw('argMax(v, tuple(t, event_id))');
        const tenants = (await this.perTenant(deduped, latest)).map((r) => partial(r, BigInt(r.total)));
        return { tenants, pooled: total(tenants) };
      }
      case 'MIN': {
        const rows = await this.perTenant(deduped, raw('min(v)'));
        const tenants = rows.map((r) => partial(r, BigInt(r.total), 0n));
        const pooled = tenants.reduce((m, t) => (t.usage < m ? t.usage : m), tenants[0]?.usage ?? 0n);
        const holder = tenants.find((t) => t.usage === pooled);
        if (holder) holder.contribution = pooled;
        return { tenants, pooled };
      }
      case 'AVG': {
        const rows = await this.perTenant(deduped, sum);
        const tenants = rows.map((r) =>
          partial(r, divideHalfEven(BigInt(r.total), BigInt(r.events)), BigInt(r.total)),
        );
        const count = BigInt(tenants.reduce((n, t) => n + t.events, 0));
        return { tenants, pooled: count ? divideHalfEven(total(tenants), count) : 0n };
      }
      case 'UNIQUE_COUNT':
        return this.uniqueCount(meter, deduped);
      case 'MAX':
        return this.peakOfSums(meter, deduped);
      default: {
        const never: never = meter.aggregation;
        throw new Error(`unknown aggregation ${String(never)}`);
      }
    }
  }

  private async uniqueCount(
    meter: Meter,
    deduped: SqlFragment,
  ): Promise<{ tenants: TenantFigures[]; pooled: Quantity }> {
    const rows = await this.perTenant(deduped, raw("uniqExactIf(s, s != '')"));
    const tenants = rows.map((r) => {
      const usage = BigInt(r.total) * UNIT;
      return { tenantId: r.tenant_id, events: Number(r.events), usage, contribution: usage };
    });
    if (meter.pooling === 'distinct-across-tenants') {
      // A subject seen in several tenants counts once, for the tenant that saw it first.
      const owners = await this.ch.query<{ owner: string; n: string }>(sql`
        SELECT owner, toString(count()) AS n FROM (
          SELECT s, argMin(tenant_id, tuple(t, tenant_id)) AS owner FROM ${deduped} WHERE s != '' GROUP BY s
        ) GROUP BY owner`);
      const owned = new Map(owners.map((o) => [o.owner, BigInt(o.n) * UNIT]));
      for (const t of tenants) t.contribution = owned.get(t.tenantId) ?? 0n;
    }
    return { tenants, pooled: tenants.reduce((s, t) => s + t.contribution, 0n) };
  }

  private async peakOfSums(
    meter: Meter,
    deduped: SqlFragment,
  ): Promise<{ tenants: TenantFigures[]; pooled: Quantity; peakBucketMs?: number }> {
    const bucketMs = (meter.bucketSeconds ?? 60) * 1000;
    // Each tenant's maximum per bucket; the pooled peak is the bucket with the largest sum.
    const perBucket = sql`(
      SELECT tenant_id, intDiv(t, ${bucketMs}) * ${bucketMs} AS b, max(v) AS mv, count() AS n
      FROM ${deduped} GROUP BY tenant_id, b
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
