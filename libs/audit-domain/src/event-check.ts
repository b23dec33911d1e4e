import type { DomainEventEnvelope } from '@metering/contracts';

/** Envelope versions the audit log knows how to record. */
export const SUPPORTED_SCHEMA_VERSIONS: readonly number[] = [1];

/** Dotted lower-case names: `tenant.suspended`, `api_key.revoked`. */
const ACTION = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

/**
 * What the audit log knows about a topic's producer: the service that must have emitted its
 * events and, where that service's aggregates are fixed, which ones. Topics not listed (a later
 * `*.events.v1`) are taken from any source.
 */
export const KNOWN_TOPICS: Readonly<Record<string, { source: string; aggregates: readonly string[] }>> = {
  'registry.events.v1': {
    source: 'tenant-registry',
    aggregates: ['account', 'tenant', 'template', 'api_key', 'management_key'],
  },
  'webhooks.events.v1': { source: 'webhooks', aggregates: ['webhook_endpoint'] },
};

const MIN_TIME = Date.UTC(1970, 0, 1);
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * Why a contract-valid domain event cannot be recorded from `topic` (unknown version, action or
 * producer, a time out of range, text Postgres cannot store), or undefined when it can.
 */
export function auditProblem(topic: string, event: DomainEventEnvelope): string | undefined {
  if (!SUPPORTED_SCHEMA_VERSIONS.includes(event.schemaVersion))
    return `schemaVersion: unsupported version ${event.schemaVersion}`;
  if (!ACTION.test(event.type)) return `type: ${JSON.stringify(event.type)} is not a dotted event name`;
  const time = Date.parse(event.occurredAt);
  if (!(time >= MIN_TIME && time <= MAX_TIME)) return 'occurredAt: outside 1970–9999';
  const known = KNOWN_TOPICS[topic];
  if (known) {
    if (event.source !== known.source)
      return `source: ${topic} carries events of ${known.source}, not ${JSON.stringify(event.source)}`;
    const aggregate = event.type.slice(0, event.type.indexOf('.'));
    if (!known.aggregates.includes(aggregate) || !known.aggregates.includes(event.aggregateType))
      return `type: unknown event ${event.type} (${event.aggregateType}) on ${topic}`;
  }
  const texts: [string, string | undefined][] = [
    ['accountId', event.accountId],
    ['tenantId', event.tenantId],
    ['aggregateType', event.aggregateType],
    ['aggregateId', event.aggregateId],
    ['actor.id', event.actor.id],
    ['source', event.source],
    ['correlationId', event.correlationId],
  ];
  for (const [field, value] of texts) {
    if (value === undefined) continue;
    if (value.includes('\u0000')) return `${field}: contains a NUL character`;
    if (value.length > 512) return `${field}: longer than 512 characters`;
  }
  return undefined;
}
