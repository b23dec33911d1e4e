import { Injectable } from '@nestjs/common';
import { HOUR_MS, RollupLedger } from '@metering/aggregation-data-access';
import { ClickHouse, ident, sql } from '@metering/clickhouse';
import { AppError } from '@metering/contracts';
import {
  METER_VALUES_TABLE,
  SINK_RECEIPTS_TABLE,
  USAGE_EVENTS_TABLE,
} from '../clickhouse/usage-events.table';
import { USAGE_HOURLY_TABLE } from '../rollups/rollup-tables';

/** Longest range one reconciliation covers: a billing period and a few days. */
export const MAX_RECONCILIATION_HOURS = 35 * 24;

export interface HourReconciliation {
  hour: string;
  /** Records the sink consumed from Kafka for the hour, redeliveries included. */
  consumed: number;
  /** Distinct events (tenant, id) stored in ClickHouse. */
  distinctEvents: number;
  /** Consumed records that were copies of stored events (redeliveries, counted once). */
  redelivered: number;
  /** Distinct (meter, event) values stored, and what the hour's rollups count. */
  meteredValues: number;
  rolledUpValues: number;
  rollup: 'current' | 'stale' | 'mismatch';
}

/**
 * Per hour of one account: what the sink consumed against what is stored and rolled up. A
 * consumed count below the distinct count would mean events stored without being consumed
 * (impossible unless written around the sink); `distinctEvents` below what ingestion accepted is
 * a gap; a rollup that disagrees with its raw rows outside a pending rebuild is a mismatch.
 */
@Injectable()
export class ReconciliationService {
  constructor(
    private readonly ch: ClickHouse,
    private readonly ledger: RollupLedger,
  ) {}

  async hours(accountId: string, fromMs: number, toMs: number): Promise<HourReconciliation[]> {
    const from = Math.floor(fromMs / HOUR_MS) * HOUR_MS;
    const to = Math.ceil(toMs / HOUR_MS) * HOUR_MS;
    if (to <= from)
      throw new AppError('invalid', 'invalid_range', '`to` must be after `from`', { field: 'to' });
    if ((to - from) / HOUR_MS > MAX_RECONCILIATION_HOURS) {
      throw new AppError(
        'invalid',
        'range_too_large',
        `at most ${MAX_RECONCILIATION_HOURS} hours per query`,
        {
          field: 'to',
        },
      );
    }
    const timeRange = sql`account_id = ${accountId}
      AND time >= toDateTime(${from / 1000}) AND time < toDateTime(${to / 1000})
      AND time_ms >= ${from} AND time_ms < ${to}`;
    const byHour = (rows: { h: string; n: string }[]) => new Map(rows.map((r) => [Number(r.h), Number(r.n)]));
    const [consumed, events, values, rolled, stale] = await Promise.all([
      this.ch.query<{ h: string; n: string }>(sql`
        SELECT toString(hour_ms) AS h, toString(sum(events)) AS n FROM ${ident(SINK_RECEIPTS_TABLE)}
        WHERE account_id = ${accountId} AND hour_ms >= ${from} AND hour_ms < ${to} GROUP BY hour_ms`),
      this.ch.query<{ h: string; n: string }>(sql`
        SELECT toString(intDiv(time_ms, ${HOUR_MS}) * ${HOUR_MS}) AS h, toString(uniqExact(tenant_id, event_id)) AS n
        FROM ${ident(USAGE_EVENTS_TABLE)} WHERE ${timeRange} GROUP BY h`),
      this.ch.query<{ h: string; n: string }>(sql`
        SELECT toString(intDiv(time_ms, ${HOUR_MS}) * ${HOUR_MS}) AS h, toString(uniqExact(meter_key, tenant_id, event_id)) AS n
        FROM ${ident(METER_VALUES_TABLE)} WHERE ${timeRange} GROUP BY h`),
      this.ch.query<{ h: string; n: string }>(sql`
        SELECT toString(hour_ms) AS h, toString(sum(events)) AS n FROM ${ident(USAGE_HOURLY_TABLE)} FINAL
        WHERE account_id = ${accountId} AND hour_ms >= ${from} AND hour_ms < ${to} GROUP BY hour_ms`),
      this.ledger.staleHours(accountId, from, to),
    ]);
    const [c, e, v, r] = [consumed, events, values, rolled].map(byHour);
    const staleSet = new Set(stale);
    const hours = [...new Set([...c.keys(), ...e.keys(), ...v.keys(), ...r.keys()])].sort((a, b) => a - b);
    return hours.map((h) => {
      const metered = v.get(h) ?? 0;
      const rolledUp = r.get(h) ?? 0;
      const distinct = e.get(h) ?? 0;
      const received = c.get(h) ?? 0;
      return {
        hour: new Date(h).toISOString(),
        consumed: received,
        distinctEvents: distinct,
        redelivered: Math.max(0, received - distinct),
        meteredValues: metered,
        rolledUpValues: rolledUp,
        rollup: staleSet.has(h) ? 'stale' : metered === rolledUp ? 'current' : 'mismatch',
      };
    });
  }
}
