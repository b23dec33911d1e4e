import { DomainEventEnvelope } from './domain-event';
import { UsageCloudEvent, UsageEventBatch, checkUsageCloudEvent, checkUsageEventBatch } from './usage-event';
import { validateAs, type Validated } from './validation';

/**
 * A Kafka topic's contract: its versioned name, the dead-letter topic for messages that fail
 * validation, the class every value must validate against, and how the partition key is chosen.
 */
export interface TopicContract<T extends object> {
  readonly name: string;
  readonly deadLetter: string;
  readonly valueClass: new () => T;
  readonly keyOf: (value: T) => string;
  /** Checks an untrusted value against the contract; never throws for bad input. */
  readonly check: (value: unknown) => Validated<T>;
}

/** A topic contract; `check` defaults to validating against `valueClass` with class-validator. */
export function defineTopic<T extends object>(
  contract: Omit<TopicContract<T>, 'check'> & Partial<Pick<TopicContract<T>, 'check'>>,
): TopicContract<T> {
  const check = contract.check ?? ((value: unknown) => validateAs(contract.valueClass, value));
  return Object.freeze({ ...contract, check });
}

/**
 * Validated usage events, packed per tenant and request, keyed by tenant so one tenant's events
 * stay ordered in one partition.
 */
export const USAGE_EVENTS_TOPIC = defineTopic({
  name: 'usage.events.v1',
  deadLetter: 'usage.events.dlq.v1',
  valueClass: UsageEventBatch,
  keyOf: (batch) => batch.tenantId,
  check: checkUsageEventBatch,
});

/** Raw CloudEvents from direct Kafka producers, validated by ingestion and republished. */
export const USAGE_INGEST_TOPIC = defineTopic({
  name: 'usage.ingest.v1',
  deadLetter: 'usage.events.dlq.v1',
  valueClass: UsageCloudEvent,
  keyOf: (event) => event.tenantid ?? event.id,
  check: checkUsageCloudEvent,
});

const domainTopic = (service: string) =>
  defineTopic({
    name: `${service}.events.v1`,
    deadLetter: `${service}.events.dlq.v1`,
    valueClass: DomainEventEnvelope,
    keyOf: (event: DomainEventEnvelope) => event.accountId,
  });

/** Domain events, keyed by account id (ARCHITECTURE.md §8). */
export const REGISTRY_EVENTS_TOPIC = domainTopic('registry');
export const BILLING_EVENTS_TOPIC = domainTopic('billing');
export const QUOTA_EVENTS_TOPIC = domainTopic('quota');
/** Lifecycle of webhook endpoints (types and data in webhook-events.ts). */
export const WEBHOOKS_EVENTS_TOPIC = domainTopic('webhooks');

/** Names of every topic contract, for provisioning and docs. */
export const ALL_TOPICS: readonly Pick<TopicContract<object>, 'name' | 'deadLetter'>[] = [
  USAGE_INGEST_TOPIC,
  USAGE_EVENTS_TOPIC,
  REGISTRY_EVENTS_TOPIC,
  BILLING_EVENTS_TOPIC,
  QUOTA_EVENTS_TOPIC,
  WEBHOOKS_EVENTS_TOPIC,
];

/** Every topic name the platform uses, dead-letter topics included (for provisioning). */
export function allTopicNames(): string[] {
  return [...new Set(ALL_TOPICS.flatMap((t) => [t.name, t.deadLetter]))].sort();
}
