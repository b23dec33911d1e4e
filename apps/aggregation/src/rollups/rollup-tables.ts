import { DAY_MS, HOUR_MS } from '@metering/aggregation-data-access';
import { ident, raw, sql, type SqlFragment } from '@metering/clickhouse';
import type { MeterCatalog } from '@metering/meters';
import { METER_VALUES_TABLE } from '../clickhouse/usage-events.table';

export const USAGE_HOURLY_TABLE = 'usage_hourly';
export const USAGE_PEAKS_TABLE = 'usage_peaks';
export const USAGE_SUBJECTS_TABLE = 'usage_subjects';
export const USAGE_BUCKET_SUMS_TABLE = 'usage_bucket_sums';
export const USAGE_DAILY_TABLE = 'usage_daily';
export const USAGE_DAILY_SUBJECTS_TABLE = 'usage_daily_subjects';

/**
 * `column` (epoch milliseconds) within any of the ranges, written as a disjunction of ranges so
 * ClickHouse narrows the read with the sorting key (a single range plus an exclusion would read
 * the whole range). No ranges: false.
 */
export function inTimeRanges(
  ranges: readonly { fromMs: number; toMs: number }[],
  column: 'time_ms' | 'hour_ms' | 'day_ms' = 'time_ms',
): SqlFragment {
  const merged: { fromMs: number; toMs: number }[] = [];
  for (const r of [...ranges].filter((x) => x.toMs > x.fromMs).sort((a, b) => a.fromMs - b.fromMs)) {
    const last = merged[merged.length - 1];
    if (last && r.fromMs <= last.toMs) last.toMs = Math.max(last.toMs, r.toMs);
    else merged.push({ ...r });
  }
  if (!merged.length) return raw('0');
  return raw(`(${merged.map((r) => `(${column} >= ${r.fromMs} AND ${column} < ${r.toMs})`).join(' OR ')})`);
}

/**
 * `meter_values` rows within [fromMs, toMs), one per (meter, tenant, event id) — redelivered
 * copies collapse here even before ClickHouse merges them — as (meter_key, tenant_id, event_id,
 * t, s, v). `where` narrows further (meter, tenant, hours); the account filter is always there.
 */
export function dedupedValues(
  accountId: string,
  fromMs: number,
  toMs: number,
  where?: SqlFragment,
): SqlFragment {
  return sql`(
    SELECT meter_key, tenant_id, event_id, any(time_ms) AS t, any(subject) AS s, any(value_nano) AS v
    FROM ${ident(METER_VALUES_TABLE)}
    WHERE ${accountRows(accountId, fromMs, toMs)} ${where ?? raw('')}
    GROUP BY meter_key, tenant_id, event_id
  )`;
}

/**
 * Condition on `meter_values_by_time`: the account's rows with a time in [fromMs, toMs). The
 * DateTime bounds let ClickHouse skip partitions; the millisecond ones are exact.
 */
export function accountRows(accountId: string, fromMs: number, toMs: number): SqlFragment {
  return sql`account_id = ${accountId}
      AND time >= toDateTime(${Math.floor(fromMs / 1000)}) AND time <= toDateTime(${Math.ceil(toMs / 1000)})
      AND time_ms >= ${fromMs} AND time_ms < ${toMs}`;
}

/** A row's value of one of its meter's groupBy properties ('' when the event has none). */
export const groupValueOf = (property: string): SqlFragment =>
  sql`group_values[indexOf(group_keys, ${property})]`;

/** Whether a gauge's buckets tile hours, so each bucket's sum over tenants can be rolled up per hour. */
export const bucketsTileHours = (bucketMs: number): boolean => HOUR_MS % bucketMs === 0;

/**
 * The statements that rebuild every rollup of some hours of one account from their deduplicated
 * raw rows, in one pass over the account's rows per table. Each is one INSERT … SELECT run by the
 * server; running them again (or concurrently) only writes the same rows with a newer `built_at`.
 */
export function rebuildStatements(
  accountId: string,
  hours: readonly number[],
  catalog: MeterCatalog,
  builtAt: number,
): SqlFragment[] {
  if (hours.length === 0) return [];
  const from = Math.min(...hours);
  const to = Math.max(...hours) + HOUR_MS;
  const inHours = sql`AND has(${hours}, intDiv(time_ms, ${HOUR_MS}) * ${HOUR_MS})`;
  const source = (where: SqlFragment = raw('')) =>
    sql`(SELECT *, intDiv(t, ${HOUR_MS}) * ${HOUR_MS} AS h FROM ${dedupedValues(
      accountId,
      from,
      to,
      sql`${inHours} ${where}`,
    )})`;
  const built = sql`toUInt64(${builtAt})`;
  const statements = [
    sql`INSERT INTO ${ident(USAGE_HOURLY_TABLE)}
      (account_id, meter_key, hour_ms, tenant_id, events, total, min_v, max_v, last_t, last_id, last_v, built_at)
      SELECT ${accountId}, meter_key, h, tenant_id, count(), sum(toDecimal128(v, 0)),
             min(v), max(v), argMax(t, tuple(t, event_id)), argMax(event_id, tuple(t, event_id)),
             argMax(v, tuple(t, event_id)), ${built}
      FROM ${source()} GROUP BY meter_key, h, tenant_id`,
  ];
  for (const meter of catalog.meters) {
    if (meter.aggregation !== 'MAX') continue;
    const bucketMs = (meter.bucketSeconds ?? 60) * 1000;
    const perTenant = sql`(
      SELECT h, intDiv(t, ${bucketMs}) * ${bucketMs} AS b, tenant_id, max(v) AS mv, count() AS n
      FROM ${source(sql`AND meter_key = ${meter.key}`)} GROUP BY h, b, tenant_id
    )`;
    statements.push(sql`INSERT INTO ${ident(USAGE_PEAKS_TABLE)}
      (account_id, meter_key, hour_ms, bucket_ms, tenant_id, max_v, events, built_at)
      SELECT ${accountId}, ${meter.key}, h, b, tenant_id, mv, n, ${built} FROM ${perTenant}`);
    if (bucketsTileHours(bucketMs)) {
      statements.push(sql`INSERT INTO ${ident(USAGE_BUCKET_SUMS_TABLE)}
        (account_id, meter_key, hour_ms, bucket_ms, total, built_at)
        SELECT ${accountId}, ${meter.key}, h, b, sum(toDecimal128(mv, 0)), ${built} FROM ${perTenant} GROUP BY h, b`);
    }
  }
  const unique = catalog.meters.filter((m) => m.aggregation === 'UNIQUE_COUNT').map((m) => m.key);
  if (unique.length) {
    statements.push(sql`INSERT INTO ${ident(USAGE_SUBJECTS_TABLE)}
      (account_id, meter_key, hour_ms, tenant_id, subject, first_t, built_at)
      SELECT ${accountId}, meter_key, h, tenant_id, s, min(t), ${built}
      FROM ${source(sql`AND has(${unique}, meter_key) AND subject != ''`)} GROUP BY meter_key, h, tenant_id, s`);
  }
  return statements;
}

/**
 * Rebuilds one account-day of `usage_daily` from the day's hourly rollups, and of
 * `usage_daily_subjects` from the day's hourly subjects. Run after the day's stale hours were
 * rebuilt and before their marks are cleared, so a day whose hours are all current always has
 * current daily rows. Subjects are read without FINAL, as queries read them: a rebuilt hour only
 * adds subjects or moves a first time earlier, so older copies change neither.
 */
export function rebuildDayStatements(accountId: string, dayMs: number, builtAt: number): SqlFragment[] {
  const day = sql`account_id = ${accountId} AND hour_ms >= ${dayMs} AND hour_ms < ${dayMs + DAY_MS}`;
  return [
    sql`INSERT INTO ${ident(USAGE_DAILY_TABLE)}
    (account_id, meter_key, day_ms, tenant_id, events, total, min_v, max_v, last_t, last_id, last_v, built_at)
    SELECT ${accountId}, meter_key, toInt64(${dayMs}), tenant_id, sum(events), sum(total), min(min_v), max(max_v),
           max(last_t), argMax(last_id, tuple(last_t, last_id)), argMax(last_v, tuple(last_t, last_id)), toUInt64(${builtAt})
    FROM ${ident(USAGE_HOURLY_TABLE)} FINAL
    WHERE ${day}
    GROUP BY meter_key, tenant_id`,
    sql`INSERT INTO ${ident(USAGE_DAILY_SUBJECTS_TABLE)}
    (account_id, meter_key, day_ms, tenant_id, subject, first_t, built_at)
    SELECT ${accountId}, meter_key, toInt64(${dayMs}), tenant_id, subject, min(first_t), toUInt64(${builtAt})
    FROM ${ident(USAGE_SUBJECTS_TABLE)}
    WHERE ${day}
    GROUP BY meter_key, tenant_id, subject`,
  ];
}
