import { Injectable } from '@nestjs/common';
import { ClickHouse, ident, raw, sql, type SqlFragment } from '@metering/clickhouse';
import { AppError } from '@metering/contracts';
import type { Meter } from '@metering/meters';
import { USAGE_EVENTS_TABLE } from '../clickhouse/usage-events.table';
import { MeterCatalogService } from '../meters/meter-catalog.service';

export interface UsageQuery {
  meter: string;
  tenantId: string;
  fromMs: number;
  toMs: number;
}

export interface UsageResult {
  meter: string;
  tenantId: string;
  from: string;
  to: string;
  value: number;
  events: number;
}

/** Value of one deduplicated event for a meter: 1 for COUNT, the value property for SUM. */
function valueExpression(meter: Meter): SqlFragment {
  if (meter.aggregation === 'COUNT') return raw('1');
  // visitParamExtractFloat reads a top-level numeric property on 18.16 and current releases.
  return sql`visitParamExtractFloat(any(data), ${meter.valueProperty ?? 'value'})`;
}

@Injectable()
export class UsageService {
  constructor(
    private readonly ch: ClickHouse,
    private readonly meters: MeterCatalogService,
  ) {}

  async usage(query: UsageQuery): Promise<UsageResult> {
    const meter = this.meters.get(query.meter);
    if (query.toMs <= query.fromMs) {
      throw new AppError('invalid', 'invalid_range', '`to` must be after `from`', { field: 'to' });
    }
    // One row per event id: redelivered copies collapse here even before ClickHouse merges them.
    const statement = sql`
      SELECT count() AS events, sum(v) AS value FROM (
        SELECT event_id, ${valueExpression(meter)} AS v
        FROM ${ident(USAGE_EVENTS_TABLE)}
        WHERE tenant_id = ${query.tenantId} AND event_type = ${meter.eventType}
          AND time_ms >= ${query.fromMs} AND time_ms < ${query.toMs}
        GROUP BY event_id
      )`;
    const [row] = await this.ch.query<{ events: string; value: number | string }>(statement);
    return {
      meter: meter.key,
      tenantId: query.tenantId,
      from: new Date(query.fromMs).toISOString(),
      to: new Date(query.toMs).toISOString(),
      value: Number(row?.value ?? 0),
      events: Number(row?.events ?? 0),
    };
  }
}
