import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { HOUR_MS, RollupLedger } from '@metering/aggregation-data-access';
import { ClickHouse } from '@metering/clickhouse';
import { USAGE_EVENTS_TOPIC, type UsageEventBatch, type UsageEventRecord } from '@metering/contracts';
import { GroupCommit, KafkaClient, type BatchConsumer, type ConsumedMessage } from '@metering/kafka';
import { HealthRegistry, LOGGER, type Logger } from '@metering/observability';
import {
  METER_VALUES_TABLE,
  SINK_RECEIPTS_TABLE,
  USAGE_EVENTS_TABLE,
  type MeterValueRow,
  toMeterValueRows,
  toUsageEventRow,
} from '../clickhouse/usage-events.table';
import { MeterCatalogService } from '../meters/meter-catalog.service';
import { AggregationConfig } from '../config';
import { QuotaService } from '../quotas/quota.service';

/** Partitions whose batches may be in the handler at once. */
const SINK_PARTITIONS_CONCURRENTLY = 8;
/** Most records written in one group of inserts (a single larger batch is written alone). */
const MAX_RECORDS_PER_WRITE = 100_000;
/** Records waiting that start a write without waiting out `SINK_FLUSH_MS`. */
const FULL_WRITE_RECORDS = 10_000;
/**
 * A write starts once no batch came for this long: a burst is written when it ends, a stream
 * that keeps coming is gathered for the whole `SINK_FLUSH_MS`. (Fetches answer as soon as data
 * arrives; on the dev stack's mock broker `SINK_FETCH_WAIT_MS` must stay below this.)
 */
const QUIET_MS = 50;
/** Bytes of fetched messages that may wait for their write while the sink keeps fetching. */
const FETCH_AHEAD_BYTES = 32 * 1024 * 1024;

/**
 * Kafka → ClickHouse: each batch's raw events and per-meter values are inserted, the hours they
 * touch marked stale for the rollup builder, then the offset committed. A crash anywhere before
 * the commit redelivers the batch; raw reads and rollup rebuilds deduplicate by (tenant, event
 * id), so nothing counts twice.
 */
@Injectable()
export class UsageSinkConsumer implements OnApplicationBootstrap {
  private readonly consumer: BatchConsumer<UsageEventBatch>;
  private readonly writes: GroupCommit<UsageEventRecord>;

  constructor(
    kafka: KafkaClient,
    private readonly ch: ClickHouse,
    private readonly meters: MeterCatalogService,
    private readonly ledger: RollupLedger,
    private readonly quotas: QuotaService,
    private readonly config: AggregationConfig,
    health: HealthRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.writes = new GroupCommit({
      flush: (records) => this.flush(records),
      maxWeight: MAX_RECORDS_PER_WRITE,
      lingerMs: config.SINK_FLUSH_MS,
      minWeight: FULL_WRITE_RECORDS,
      quietMs: QUIET_MS,
    });
    this.consumer = kafka.consumer({
      groupId: config.USAGE_CONSUMER_GROUP,
      topic: USAGE_EVENTS_TOPIC,
      handler: (messages) => this.write(messages),
      // A fetch returns what there is at once: the writes gather fetches into large inserts
      // (below), so waiting at the broker for more would only delay them.
      maxBytesPerPartition: 8_388_608,
      maxWaitTimeMs: config.SINK_FETCH_WAIT_MS,
      // Batches of several partitions and fetches are written together (`writes`): fewer,
      // larger inserts, and fewer parts for ClickHouse to merge. A fetch brings little when
      // producers send small batches (and the local broker one record batch per partition), so
      // the sink keeps fetching while a write gathers.
      partitionsConcurrently: SINK_PARTITIONS_CONCURRENTLY,
      fetchAheadBytes: config.SINK_FLUSH_MS > 0 ? FETCH_AHEAD_BYTES : 0,
    });
    health.register({ name: 'usage-sink', check: () => this.consumer.check() });
  }

  onApplicationBootstrap(): void {
    // Joining the group takes a few seconds; readiness reports it, boot does not wait.
    this.consumer.start().catch((err: unknown) => this.logger.error({ err }, 'usage sink failed to start'));
  }

  private write(messages: ConsumedMessage<UsageEventBatch>[]): Promise<void> {
    return this.writes.submit(messages.flatMap((m) => m.value.records));
  }

  /**
   * The records of every batch in the group: raw events, per-meter values and receipts in one
   * insert each, the hours they touch marked stale; each batch is committed after this returns.
   */
  private async flush(records: UsageEventRecord[]): Promise<void> {
    const catalog = await this.meters.catalogFor(new Set(records.map((r) => r.type)));
    const values = records.flatMap((r) =>
      toMeterValueRows(r, catalog, (meter, reason) =>
        this.logger.warn(
          { eventId: r.id, tenantId: r.tenantId, meter: meter.key, reason },
          'value not metered',
        ),
      ),
    );
    // Both inserts (at once) or a redelivery: a batch one of them failed is written again, and
    // reads deduplicate by (tenant, event id), so a repeated write never counts twice. Receipts
    // (what reconciliation counts as consumed) go last, once the events are queryable.
    await Promise.all([
      this.ch.insert(USAGE_EVENTS_TABLE, records.map(toUsageEventRow)),
      this.ch.insert(METER_VALUES_TABLE, values),
    ]);
    await this.ch.insert(SINK_RECEIPTS_TABLE, receipts(records));
    this.faultAfterInsert(records);
    const hours = staleHours(values);
    await this.ledger.markStale(hours);
    this.quotas.touch(hours.map((h) => h.accountId));
  }

  /** Fault injection for tests: dies like a SIGKILL between the insert and the offset commit. */
  private faultAfterInsert(records: readonly UsageEventRecord[]): void {
    const tenant = this.config.FAULT_CRASH_AFTER_INSERT_TENANT;
    if (tenant && records.some((r) => r.tenantId === tenant)) process.kill(process.pid, 'SIGKILL');
  }
}

/** How many records of each account and event hour this batch consumed. */
function receipts(records: readonly UsageEventRecord[]) {
  const counts = new Map<
    string,
    { account_id: string; hour_ms: number; events: number; consumed_at_ms: number }
  >();
  const now = Date.now();
  for (const r of records) {
    const hour = Math.floor(r.timeMs / HOUR_MS) * HOUR_MS;
    const key = `${r.accountId ?? ''}\u0000${hour}`;
    const row = counts.get(key) ?? {
      account_id: r.accountId ?? '',
      hour_ms: hour,
      events: 0,
      consumed_at_ms: now,
    };
    row.events++;
    counts.set(key, row);
  }
  return [...counts.values()];
}

/** The distinct (account, hour) pairs of the rows. */
function staleHours(rows: readonly MeterValueRow[]): { accountId: string; hourMs: number }[] {
  const seen = new Map<string, { accountId: string; hourMs: number }>();
  for (const row of rows) {
    const hourMs = Math.floor(row.time_ms / HOUR_MS) * HOUR_MS;
    seen.set(`${row.account_id}\u0000${hourMs}`, { accountId: row.account_id, hourMs });
  }
  return [...seen.values()];
}
