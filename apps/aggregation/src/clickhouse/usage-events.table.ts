import path from 'node:path';
import type { UsageEventRecord } from '@metering/contracts';
import { UNIT, readPath, toQuantity, type Meter, type MeterCatalog, type Quantity } from '@metering/meters';

export const CLICKHOUSE_MIGRATIONS_DIR = path.join(__dirname, 'migrations');
export const USAGE_EVENTS_TABLE = 'usage_events';
export const SINK_RECEIPTS_TABLE = 'sink_receipts';

export interface UsageEventRow extends Record<string, unknown> {
  tenant_id: string;
  account_id: string;
  event_id: string;
  event_type: string;
  source: string;
  subject: string;
  time_ms: number;
  time: number;
  data: string;
  received_at_ms: number;
}

export function toUsageEventRow(event: UsageEventRecord): UsageEventRow {
  return {
    tenant_id: event.tenantId,
    account_id: event.accountId ?? '',
    event_id: event.id,
    event_type: event.type,
    source: event.source,
    subject: event.subject ?? '',
    time_ms: event.timeMs,
    time: Math.floor(event.timeMs / 1000),
    data: JSON.stringify(event.data),
    received_at_ms: event.receivedAtMs,
  };
}

/** Per (event, meter) values, sorted by time within account and meter (migration 0006). */
export const METER_VALUES_TABLE = 'meter_values_by_time';

export interface MeterValueRow extends Record<string, unknown> {
  account_id: string;
  tenant_id: string;
  meter_key: string;
  event_id: string;
  time_ms: number;
  time: number;
  subject: string;
  /** Int64 as a decimal string: JSON numbers would lose digits past 2^53. */
  value_nano: string;
  received_at_ms: number;
  /** The meter's groupBy property paths the event carries, and their values as text. */
  group_keys: string[];
  group_values: string[];
}

/** The values of a meter's groupBy properties in an event's data; absent or null ones left out. */
export function groupValues(
  meter: Meter,
  data: Record<string, unknown>,
): { group_keys: string[]; group_values: string[] } {
  const keys: string[] = [];
  const values: string[] = [];
  for (const property of meter.groupBy) {
    const value = readPath(data, property);
    if (value === undefined || value === null) continue;
    keys.push(property);
    values.push(groupText(value));
  }
  return { group_keys: keys, group_values: values };
}

/** A property value as group text: strings as they are, everything else as JSON (`42`, `true`). */
function groupText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * The rows an event adds to `meter_values`, one per meter of its type that can read it. A value
 * the meter cannot read (the catalog changed since ingestion checked it) is left out and reported.
 */
export function toMeterValueRows(
  event: UsageEventRecord,
  catalog: MeterCatalog,
  onUnreadable: (meter: Meter, reason: string) => void,
): MeterValueRow[] {
  const rows: MeterValueRow[] = [];
  for (const meter of catalog.metersFor(event.type)) {
    let value: Quantity = UNIT;
    if (meter.valueProperty) {
      const raw = readPath(event.data, meter.valueProperty);
      if (typeof raw !== 'number' || !Number.isFinite(raw)) {
        onUnreadable(meter, `data.${meter.valueProperty} is not a finite number`);
        continue;
      }
      value = toQuantity(raw);
    }
    rows.push({
      account_id: event.accountId ?? '',
      tenant_id: event.tenantId,
      meter_key: meter.key,
      event_id: event.id,
      time_ms: event.timeMs,
      time: Math.floor(event.timeMs / 1000),
      subject: event.subject ?? '',
      value_nano: value.toString(),
      received_at_ms: event.receivedAtMs,
      ...groupValues(meter, event.data),
    });
  }
  return rows;
}
