import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  BILLING_EVENTS_TOPIC,
  QUOTA_EVENTS_TOPIC,
  REGISTRY_EVENTS_TOPIC,
  type DomainEventEnvelope,
} from '@metering/contracts';
import { KafkaClient, type BatchConsumer, type ConsumedMessage } from '@metering/kafka';
import { HealthRegistry, LOGGER, Metrics, type Logger } from '@metering/observability';
import { WebhooksConfig } from '../config';
import { DeliveryWorker } from '../delivery/delivery.worker';
import { WebhooksService } from '../webhooks.service';

/** The domain-event topics whose events vendors can subscribe to. */
export const WEBHOOK_SOURCE_TOPICS = [REGISTRY_EVENTS_TOPIC, BILLING_EVENTS_TOPIC, QUOTA_EVENTS_TOPIC];

/**
 * Domain events → deliveries. Each batch's deliveries (one per subscribed, enabled endpoint of
 * the event's account) are written in one transaction, then the offset is committed; a batch
 * consumed again finds its deliveries recorded and adds none. Messages that break the envelope
 * contract go to the topic's dead-letter topic (BatchConsumer).
 */
@Injectable()
export class DomainEventsConsumer implements OnApplicationBootstrap {
  private readonly consumer: BatchConsumer<DomainEventEnvelope>;
  private readonly enqueued;

  constructor(
    kafka: KafkaClient,
    private readonly webhooks: WebhooksService,
    private readonly worker: DeliveryWorker,
    config: WebhooksConfig,
    health: HealthRegistry,
    metrics: Metrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.consumer = kafka.consumer({
      groupId: config.WEBHOOK_CONSUMER_GROUP,
      topics: WEBHOOK_SOURCE_TOPICS,
      handler: (messages) => this.enqueue(messages),
    });
    this.enqueued = metrics.counter(
      'webhook_deliveries_enqueued_total',
      'Deliveries recorded from domain events',
      ['topic'],
    );
    health.register({ name: 'webhooks-consumer', check: () => this.consumer.check() });
  }

  onApplicationBootstrap(): void {
    // Joining the group takes a few seconds; readiness reports it, boot does not wait.
    this.consumer
      .start()
      .catch((err: unknown) => this.logger.error({ err }, 'webhooks consumer failed to start'));
  }

  private async enqueue(messages: ConsumedMessage<DomainEventEnvelope>[]): Promise<void> {
    const added = await this.webhooks.store.enqueue(messages.map((m) => m.value));
    if (added > 0) {
      this.enqueued.inc({ topic: messages[0].topic }, added);
      this.worker.notify();
    }
  }
}
