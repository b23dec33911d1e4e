import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { AccountPlanStore } from '@metering/aggregation-data-access';
import {
  BILLING_EVENTS_TOPIC,
  SUBSCRIPTION_CHANGED,
  SubscriptionChangedData,
  TENANT_SUBSCRIPTION_CHANGED,
  TenantSubscriptionChangedData,
  validateAs,
  type DomainEventEnvelope,
} from '@metering/contracts';
import { KafkaClient, type BatchConsumer, type ConsumedMessage } from '@metering/kafka';
import { HealthRegistry, LOGGER, type Logger } from '@metering/observability';
import { AggregationConfig } from '../config';
import { QuotaService } from './quota.service';

/**
 * Keeps each account's plan allowances and each tenant's billing mode as billing announces them
 * (`subscription.changed` and `tenant_subscription.changed` on `billing.events.v1`). A change whose
 * data breaks the contract is dead-lettered with the reason.
 */
@Injectable()
export class PlanChangesConsumer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly consumer: BatchConsumer<DomainEventEnvelope>;

  constructor(
    kafka: KafkaClient,
    private readonly plans: AccountPlanStore,
    private readonly quotas: QuotaService,
    config: AggregationConfig,
    health: HealthRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.consumer = kafka.consumer({
      groupId: config.PLAN_CONSUMER_GROUP,
      topic: BILLING_EVENTS_TOPIC,
      handler: (messages) => this.record(messages),
    });
    health.register({ name: 'plan-changes', check: () => this.consumer.check() });
  }

  onApplicationBootstrap(): void {
    this.consumer
      .start()
      .catch((err: unknown) => this.logger.error({ err }, 'plan consumer failed to start'));
  }

  onModuleDestroy(): Promise<void> {
    return this.consumer.stop();
  }

  private async record(messages: ConsumedMessage<DomainEventEnvelope>[]) {
    const deadLetter: { message: ConsumedMessage<DomainEventEnvelope>; reason: string }[] = [];
    for (const message of messages) {
      const event = message.value;
      if (event.type === SUBSCRIPTION_CHANGED) {
        const data = validateAs(SubscriptionChangedData, event.data);
        if (!data.ok) {
          deadLetter.push({ message, reason: invalid(event.type, data.errors) });
          continue;
        }
        await this.plans.record(event.accountId, event.eventId, data.value);
        this.quotas.forgetPlan(event.accountId);
      } else if (event.type === TENANT_SUBSCRIPTION_CHANGED) {
        const data = validateAs(TenantSubscriptionChangedData, event.data);
        if (!data.ok) {
          deadLetter.push({ message, reason: invalid(event.type, data.errors) });
          continue;
        }
        await this.quotas.recordTenantChange(event.accountId, event, data.value);
      }
    }
    return { deadLetter };
  }
}

const invalid = (type: string, errors: { field: string; reasons: string[] }[]) =>
  `${type}: ${errors.map((e) => `data.${e.field}: ${e.reasons.join('; ')}`).join(' | ')}`;
