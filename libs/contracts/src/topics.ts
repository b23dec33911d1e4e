import { DomainEventEnvelope } from './domain-event';
import { UsageEventRecord, UsageCloudEvent } from './usage-event';

/**
 * A Kafka topic's contract: its versioned name, the dead-letter topic for messages that fail
 * validation, the class every value must validate against, and how the partition key is chosen.
 */
export interface TopicContract<T extends object> {
  readonly name: string;
  readonly deadLetter: string;
  readonly valueClass: new () => T;
  readonly keyOf: (value: T) => string;
}

export function defineTopic<T extends object>(contract: TopicContract<T>): TopicContract<T> {
  return Object.freeze({ ...contract });
}

/** Validated usage events, keyed by tenant so one tenant's events stay ordered in one partition. */
export const USAGE_EVENTS_TOPIC = defineTopic({
  name: 'usage.events.v1',
  deadLetter: 'usage.events.dlq.v1',
  valueClass: UsageEventRecord,
  keyOf: (event) => event.tenantId,
});

/** Raw CloudEvents from direct Kafka producers, validated by ingestion and republished. */
export const USAGE_INGEST_TOPIC = defineTopic({
  name: 'usage.ingest.v1',
  deadLetter: 'usage.events.dlq.v1',
  valueClass: UsageCloudEvent,
  keyOf: (event) => event.tenantid ?? event.id,
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

/** Names of every topic contract, for provisioning and docs. */
export const ALL_TOPICS: readonly Pick<TopicContract<object>, 'name' | 'deadLetter'>[] = [
  USAGE_INGEST_TOPIC,
  USAGE_EVENTS_TOPIC,
  REGISTRY_EVENTS_TOPIC,
  BILLING_EVENTS_TOPIC,
  QUOTA_EVENTS_TOPIC,
];

/** Every topic name the platform uses, dead-letter topics included (for provisioning). */
export function allTopicNames(): string[] {
  return [...new Set(ALL_TOPICS.flatMap((t) => [t.name, t.deadLetter]))].sort();
}
