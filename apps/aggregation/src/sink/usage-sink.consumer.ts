import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ClickHouse } from '@metering/clickhouse';
import { USAGE_EVENTS_TOPIC, type UsageEventBatch } from '@metering/contracts';
import { KafkaClient, type BatchConsumer, type ConsumedMessage } from '@metering/kafka';
import { HealthRegistry, LOGGER, type Logger } from '@metering/observability';
import { USAGE_EVENTS_TABLE, toUsageEventRow } from '../clickhouse/usage-events.table';
import { AggregationConfig } from '../config';

/**
 * Kafka → ClickHouse: each batch is inserted, then its offset committed. A crash between the two
 * redelivers the batch; reads deduplicate by event id, so nothing counts twice.
 */
@Injectable()
export class UsageSinkConsumer implements OnApplicationBootstrap {
  private readonly consumer: BatchConsumer<UsageEventBatch>;

  constructor(
    kafka: KafkaClient,
    private readonly ch: ClickHouse,
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
    await this.ch.insert(
      USAGE_EVENTS_TABLE,
      messages.flatMap((m) => m.value.records.map(toUsageEventRow)),
    );
  }
}
