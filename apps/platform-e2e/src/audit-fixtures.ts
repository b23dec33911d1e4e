import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { Client } from 'pg';
import { api, kafkaBrokers, serviceUrl, stackVar, uniqueName } from '@metering/testing';

export const auditUrl = serviceUrl('audit');
export const adminKey = () => stackVar('ADMIN_KEY');

/** GET on the audit service as `key` (default: the platform admin). */
export const auditGet = (path: string, key = adminKey()) => api(auditUrl, 'GET', path, { key });

/** A domain event as a producer publishes it on `*.events.v1`. */
export function domainEvent(accountId: string, patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventId: randomUUID(),
    type: 'quota.threshold_crossed',
    schemaVersion: 1,
    occurredAt: new Date().toISOString(),
    accountId,
    aggregateType: 'quota',
    aggregateId: `${accountId}:api_calls`,
    aggregateVersion: 1,
    actor: { type: 'service', id: 'aggregation' },
    source: 'aggregation',
    correlationId: randomUUID(),
    data: { meter: 'api_calls', threshold: 0.8 },
    ...patch,
  };
}

export const newAccountId = () => uniqueName('acc_e2e');

/** A connected producer (close it with `disconnect`). */
export async function producer(): Promise<Producer> {
  const kafka = new Kafka({ brokers: kafkaBrokers(), clientId: 'e2e-audit', logLevel: logLevel.NOTHING });
  const p = kafka.producer({ allowAutoTopicCreation: true });
  await p.connect();
  return p;
}

/** The audit database as its superuser: what an operator with shell access could do. */
export async function auditDatabase(name = 'metering_audit'): Promise<Client> {
  const client = new Client({ connectionString: `${stackVar('POSTGRES_URL')}/${name}` });
  await client.connect();
  return client;
}

export interface EntryPage {
  entries: { seq: number; eventId: string; action: string; accountId: string; tenantId: string | null }[];
  nextCursor: string | null;
}
