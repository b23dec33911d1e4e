import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ClickHouse } from '@metering/clickhouse';
import { USAGE_EVENTS_TOPIC, type UsageEventBatch } from '@metering/contracts';
import { KafkaClient, type BatchConsumer, type ConsumedMessage } from '@metering/kafka';
import { HealthRegistry, LOGGER, type Logger } from '@metering/observability';
import {
  METER_VALUES_TABLE,
  USAGE_EVENTS_TABLE,
  toMeterValueRows,
  toUsageEventRow,
} from '../clickhouse/usage-events.table';
import { MeterCatalogService } from '../meters/meter-catalog.service';
import { AggregationConfig } from '../config';

/**
 * Kafka → ClickHouse: each batch's raw events and per-meter values are inserted, then its offset committed. A crash between the two
 * redelivers the batch; reads deduplicate by event id, so nothing counts twice.
 */
@Injectable()
export class UsageSinkConsumer implements OnApplicationBootstrap {
  private readonly consumer: BatchConsumer<UsageEventBatch>;

  constructor(
    kafka: KafkaClient,
    private readonly ch: ClickHouse,
    private readonly meters: MeterCatalogService,
    config: AggregationConfig,
    health: HealthRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.consumer = kafka.consumer({
      groupId: config.USAGE_CONSUMER_GROUP,
      topic: USAGE_EVENTS_TOPIC,
      handler: (messages) => this.write(messages),
      // ClickHouse prefers few large inserts: wait up to half a second for a megabyte.
      minBytes: 1_048_576,
      maxBytesPerPartition: 8_388_608,
      maxWaitTimeMs: 500,
    });
    health.register({ name: 'usage-sink', check: () => this.consumer.check() });
  }

  onApplicationBootstrap(): void {
    // Joining the group takes a few seconds; readiness reports it, boot does not wait.
    this.consumer.start().catch((err: unknown) => this.logger.error({ err }, 'usage sink failed to start'));
  }

  private async write(messages: ConsumedMessage<UsageEventBatch>[]): Promise<void> {
    const records = messages.flatMap((m) => m.value.records);
    const catalog = await this.meters.catalogFor(new Set(records.map((r) => r.type)));
    const values = records.flatMap((r) =>
      toMeterValueRows(r, catalog, (meter, reason) =>
        this.logger.warn(
          { eventId: r.id, tenantId: r.tenantId, meter: meter.key, reason },
          'value not metered',
        ),
      ),
    );
    // Both inserts or a redelivery: a batch that fails after the first is written again, and
    // reads deduplicate by (tenant, event id), so a repeated write never counts twice.
    await this.ch.insert(USAGE_EVENTS_TABLE, records.map(toUsageEventRow));
    await this.ch.insert(METER_VALUES_TABLE, values);
  }
}
