import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import {
  api,
  apiCallEvent,
  eventually,
  kafkaBrokers,
  postEvents,
  provisionTenants,
  serviceUrl,
  stackVar,
  uniqueName,
} from '@metering/testing';

const HOUR = 3_600_000;

describe('late events after a period is finalized', () => {
  it('refuses them for meters that reject late events and accepts them for meters that bill adjustments', async () => {
    // A meter that refuses late events, next to api_calls (which bills them as adjustments).
    const meterKey = uniqueName('sms').toLowerCase();
    const eventType = `${meterKey}.sent`;
    const created = await api(serviceUrl('aggregation'), 'POST', '/v1/meters', {
      key: stackVar('ADMIN_KEY'),
      body: { key: meterKey, eventType, aggregation: 'COUNT', lateEvents: 'reject' },
    });
    expect(created.status).toBe(201);
    const { accountId, tenants } = await provisionTenants(1);
    const [tenant] = tenants;

    // Billing finalized the account's period ending an hour ago.
    const kafka = new Kafka({ brokers: kafkaBrokers(), clientId: 'e2e-late', logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    const periodEndMs = Date.now() - HOUR;
    await producer.send({
      topic: 'billing.events.v1',
      acks: -1,
      messages: [
        {
          key: accountId,
          value: JSON.stringify({
            eventId: randomUUID(),
            type: 'invoice.finalized',
            schemaVersion: 1,
            occurredAt: new Date().toISOString(),
            accountId,
            aggregateType: 'invoice',
            aggregateId: uniqueName('inv'),
            aggregateVersion: 2,
            actor: { type: 'service', id: 'billing' },
            source: 'billing',
            data: { status: 'finalized', periodStartMs: periodEndMs - 30 * 24 * HOUR, periodEndMs },
          }),
        },
      ],
    });
    await producer.disconnect();

    const sms = (time: number) => apiCallEvent({ type: eventType, time: new Date(time).toISOString() });
    const refused = await eventually(
      async () => {
        const res = await postEvents(serviceUrl('ingestion'), [sms(periodEndMs - HOUR)], tenant.apiKey);
        return res.body.rejected.length ? res.body : undefined;
      },
      { timeoutMs: 30_000, what: 'the finalized period known to ingestion' },
    );
    expect(refused.rejected[0].reasons.join(' ')).toMatch(/^period_closed: .*meter .* refuses late events/);

    const after = await postEvents(
      serviceUrl('ingestion'),
      [sms(periodEndMs + 60_000), apiCallEvent({ time: new Date(periodEndMs - HOUR).toISOString() })],
      tenant.apiKey,
    );
    // After the period: accepted; a late api call: accepted (billed as a prior-period adjustment).
    expect(after.body).toMatchObject({ accepted: 2, rejected: [] });
  });
});
