import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { BILLING_EVENTS_TOPIC, type DomainEventEnvelope } from '@metering/contracts';
import { ClosedPeriods } from '@metering/ingestion-data-access';
import { KafkaClient, type BatchConsumer, type ConsumedMessage } from '@metering/kafka';
import { LOGGER, type Logger } from '@metering/observability';
import { IngestionConfig } from '../config';

/**
 * Which periods each account has invoiced for good: billing's `invoice.finalized` events (one
 * consumer group for all instances) move the account's closed-through instant forward in
 * Postgres; every instance keeps a copy in memory, read again every CLOSED_PERIODS_REFRESH_MS,
 * so the intake hot path never waits on it.
 */
@Injectable()
export class ClosedPeriodsService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly consumer: BatchConsumer<DomainEventEnvelope>;
  private closed = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    kafka: KafkaClient,
    private readonly store: ClosedPeriods,
    private readonly config: IngestionConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.consumer = kafka.consumer({
      groupId: config.CLOSED_PERIODS_CONSUMER_GROUP,
      topic: BILLING_EVENTS_TOPIC,
      handler: (messages) => this.record(messages),
    });
  }

  onApplicationBootstrap(): void {
    this.consumer
      .start()
      .catch((err: unknown) => this.logger.error({ err }, 'closed-periods consumer failed'));
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.config.CLOSED_PERIODS_REFRESH_MS);
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.consumer.stop();
  }

  /** The end of the account's latest finalized period, if it has one. */
  closedThrough(accountId: string): number | undefined {
    return this.closed.get(accountId);
  }

  private async refresh(): Promise<void> {
    try {
      this.closed = await this.store.all();
    } catch (err) {
      this.logger.warn({ err }, 'closed periods not refreshed');
    }
  }

  private async record(messages: ConsumedMessage<DomainEventEnvelope>[]) {
    const deadLetter: { message: ConsumedMessage<DomainEventEnvelope>; reason: string }[] = [];
    for (const message of messages) {
      const event = message.value;
      if (event.type !== 'invoice.finalized') continue;
      const end = (event.data as { periodEndMs?: unknown }).periodEndMs;
      if (typeof end !== 'number' || !Number.isSafeInteger(end)) {
        deadLetter.push({ message, reason: 'invoice.finalized: data.periodEndMs must be an integer' });
        continue;
      }
      await this.store.close(event.accountId, end);
    }
    await this.refresh();
    return { deadLetter };
  }
}
