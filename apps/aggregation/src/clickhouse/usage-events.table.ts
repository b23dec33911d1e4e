import path from 'node:path';
import type { UsageEventRecord } from '@metering/contracts';

export const CLICKHOUSE_MIGRATIONS_DIR = path.join(__dirname, 'migrations');
export const USAGE_EVENTS_TABLE = 'usage_events';

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
