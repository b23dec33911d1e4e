import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { USAGE_INGEST_TOPIC, type UsageCloudEvent } from '@metering/contracts';
import { KafkaClient, type BatchConsumer, type BatchVerdict, type ConsumedMessage } from '@metering/kafka';
import { HealthRegistry, LOGGER, type Logger } from '@metering/observability';
import { TenantAuthService } from '../auth/tenant-auth.service';
import { IngestionConfig } from '../config';
import { EventsService } from '../events/events.service';

type Message = ConsumedMessage<UsageCloudEvent>;

/**
 * Direct Kafka producers (trusted internal services, which name their tenant in the `tenantid`
 * attribute): events on `usage.ingest.v1` pass the same intake as REST and gRPC, and are
 * republished to `usage.events.v1`; refused ones go to `usage.events.dlq.v1` with the reason.
 * A failure to make events durable leaves the batch uncommitted, to be retried.
 */
@Injectable()
export class DirectIntakeConsumer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly consumer: BatchConsumer<UsageCloudEvent>;

  constructor(
    kafka: KafkaClient,
    config: IngestionConfig,
    health: HealthRegistry,
    private readonly events: EventsService,
    private readonly auth: TenantAuthService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.consumer = kafka.consumer({
      groupId: config.INGEST_CONSUMER_GROUP,
      topic: USAGE_INGEST_TOPIC,
      handler: (messages) => this.handle(messages),
    });
    health.register({ name: 'direct-intake', check: () => this.consumer.check() });
  }

  onApplicationBootstrap(): void {
    this.consumer
      .start()
      .catch((err: unknown) => this.logger.error({ err }, 'direct intake failed to start'));
  }

  onModuleDestroy(): Promise<void> {
    return this.consumer.stop();
  }

  private async handle(messages: Message[]): Promise<BatchVerdict<UsageCloudEvent>> {
    const deadLetter: BatchVerdict<UsageCloudEvent>['deadLetter'] = [];
    const byTenant = new Map<string, Message[]>();
    for (const message of messages) {
      const tenantId = message.value.tenantid;
      if (!tenantId) {
        deadLetter.push({ message, reason: 'tenantid: required for events sent to usage.ingest.v1' });
        continue;
      }
      const group = byTenant.get(tenantId);
      if (group) group.push(message);
      else byTenant.set(tenantId, [message]);
    }
    for (const [tenantId, group] of byTenant) {
      const tenant = await this.auth.tenantForDirectIntake(tenantId);
      if ('refused' in tenant) {
        deadLetter.push(...group.map((message) => ({ message, reason: tenant.refused })));
        continue;
      }
      const outcomes = await this.events.intake(
        tenant,
        group.map((m) => m.value),
      );
      outcomes.forEach((outcome, i) => {
        if (outcome.status === 'rejected' || outcome.status === 'conflict') {
          deadLetter.push({ message: group[i], reason: `${outcome.status}: ${outcome.reasons.join(' | ')}` });
        }
      });
    }
    return { deadLetter };
  }
}
