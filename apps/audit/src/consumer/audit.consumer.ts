import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { auditProblem, draftOf, type AuditDraft } from '@metering/audit-domain';
import { AuditStore } from '@metering/audit-data-access';
import {
  BILLING_EVENTS_TOPIC,
  DomainEventEnvelope,
  QUOTA_EVENTS_TOPIC,
  REGISTRY_EVENTS_TOPIC,
  defineTopic,
  type TopicContract,
} from '@metering/contracts';
import { KafkaClient, type BatchConsumer, type BatchVerdict, type ConsumedMessage } from '@metering/kafka';
import { HealthRegistry, LOGGER, Metrics, type Logger } from '@metering/observability';
import { APP_STORE } from '../audit.tokens';
import { AuditConfig } from '../config';

const KNOWN_CONTRACTS = [REGISTRY_EVENTS_TOPIC, BILLING_EVENTS_TOPIC, QUOTA_EVENTS_TOPIC];

/** The contract of a domain-event topic: a known one, or the same envelope for a later `*.events.v1`. */
function contractOf(name: string): TopicContract<DomainEventEnvelope> {
  return (
    KNOWN_CONTRACTS.find((t) => t.name === name) ??
    defineTopic({
      name,
      deadLetter: name.replace(/\.events\.v1$/, '.events.dlq.v1'),
      valueClass: DomainEventEnvelope,
      keyOf: (event: DomainEventEnvelope) => event.accountId,
    })
  );
}

type Envelope = ConsumedMessage<DomainEventEnvelope>;

/**
 * Domain events → audit entries. Each batch is appended in one transaction (chained per account),
 * then its offset committed; a redelivered batch finds its event ids recorded and adds nothing.
 * Events the log cannot take (unknown version, action or producer; an id already recorded with
 * other content) go to the topic's dead-letter topic with the reason.
 */
@Injectable()
export class AuditConsumer implements OnApplicationBootstrap {
  private readonly consumer: BatchConsumer<DomainEventEnvelope>;
  private readonly appended;
  private readonly duplicates;

  constructor(
    kafka: KafkaClient,
    @Inject(APP_STORE) private readonly store: AuditStore,
    config: AuditConfig,
    health: HealthRegistry,
    metrics: Metrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.consumer = kafka.consumer({
      groupId: config.AUDIT_CONSUMER_GROUP,
      topics: config.AUDIT_TOPICS.map(contractOf),
      handler: (messages) => this.record(messages),
    });
    this.appended = metrics.counter('audit_entries_appended_total', 'Audit entries appended', ['topic']);
    this.duplicates = metrics.counter('audit_duplicates_total', 'Events already in the audit log', ['topic']);
    health.register({ name: 'audit-consumer', check: () => this.consumer.check() });
  }

  onApplicationBootstrap(): void {
    // Joining the group takes a few seconds; readiness reports it, boot does not wait.
    this.consumer
      .start()
      .catch((err: unknown) => this.logger.error({ err }, 'audit consumer failed to start'));
  }

  private async record(messages: Envelope[]): Promise<BatchVerdict<DomainEventEnvelope>> {
    const deadLetter: BatchVerdict<DomainEventEnvelope>['deadLetter'] = [];
    const origin = new Map<AuditDraft, Envelope>();
    const recordedAt = new Date();
    for (const message of messages) {
      const problem = auditProblem(message.topic, message.value);
      if (problem) deadLetter.push({ message, reason: problem });
      else origin.set(draftOf(message.value, recordedAt), message);
    }
    const result = await this.store.append([...origin.keys()]);
    for (const { draft, reason } of result.conflicts)
      deadLetter.push({ message: origin.get(draft)!, reason });
    const topic = messages[0].topic;
    this.appended.inc({ topic }, result.appended.length);
    this.duplicates.inc({ topic }, result.duplicates.length);
    return { deadLetter };
  }
}
