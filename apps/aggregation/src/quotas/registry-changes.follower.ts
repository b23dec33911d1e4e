import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { DomainEventEnvelope } from '@metering/contracts';
import { KafkaClient, type BatchConsumer } from '@metering/kafka';
import { LOGGER, type Logger } from '@metering/observability';
import { RegistryClient, followRegistryChanges } from '@metering/registry-client';

/** Keeps the registry client's cached tenants (status, limits) current for entitlement checks. */
@Injectable()
export class RegistryChangesFollower implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly consumer: BatchConsumer<DomainEventEnvelope>;

  constructor(
    kafka: KafkaClient,
    registry: RegistryClient,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.consumer = followRegistryChanges(kafka, registry, 'aggregation');
  }

  onApplicationBootstrap(): void {
    this.consumer
      .start()
      .catch((err: unknown) => this.logger.error({ err }, 'registry cache follower failed'));
  }

  onModuleDestroy(): Promise<void> {
    return this.consumer.stop();
  }
}
