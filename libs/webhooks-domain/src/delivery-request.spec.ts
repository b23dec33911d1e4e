import type { DomainEventEnvelope } from '@metering/contracts';
import { constructWebhookEvent } from '@metering/usage-sdk';
import { deliveryHeaders, webhookBody } from './delivery-request';

const event: DomainEventEnvelope = {
  eventId: '0b0f3c1e-8d0a-4b7e-9a59-2f5c1d1e7a10',
  type: 'tenant.suspended',
  schemaVersion: 1,
  occurredAt: '2025-10-09T08:53:20.000Z',
  accountId: 'acc_1',
  tenantId: 'ten_1',
  aggregateType: 'tenant',
  aggregateId: 'ten_1',
  aggregateVersion: 4,
  actor: { type: 'management-key', id: 'mk_abc' },
  source: 'tenant-registry',
  correlationId: 'c-1',
  data: { reason: 'unpaid' },
};

describe(webhookBody.name, () => {
  it('carries the event, not the internal envelope', () => {
    expect(JSON.parse(webhookBody(event))).toEqual({
      id: event.eventId,
      type: 'tenant.suspended',
      occurredAt: event.occurredAt,
      accountId: 'acc_1',
      tenantId: 'ten_1',
      data: { reason: 'unpaid' },
    });
  });

  it('leaves tenantId out for account-level events', () => {
    expect(JSON.parse(webhookBody({ ...event, tenantId: undefined }))).not.toHaveProperty('tenantId');
  });
});

describe(deliveryHeaders.name, () => {
  it('signs the body so that the SDK helper verifies it, and names delivery, event and attempt', () => {
    const body = webhookBody(event);
    const headers = deliveryHeaders({
      deliveryId: 'd-1',
      eventId: event.eventId,
      eventType: event.type,
      attempt: 3,
      secret: 'whsec_s',
      body,
      timestampSec: 1_760_000_000,
    });
    expect(headers).toMatchObject({
      'content-type': 'application/json',
      'metering-delivery-id': 'd-1',
      'metering-event-id': event.eventId,
      'metering-event-type': 'tenant.suspended',
      'metering-delivery-attempt': '3',
    });
    const received = constructWebhookEvent({
      payload: body,
      header: headers['metering-signature'],
      secret: 'whsec_s',
      nowSec: 1_760_000_010,
    });
    expect(received.id).toBe(event.eventId);
  });
});
