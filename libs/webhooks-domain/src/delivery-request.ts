import type { DomainEventEnvelope } from '@metering/contracts';
import { WEBHOOK_HEADERS, signWebhookPayload, type WebhookEvent } from '@metering/usage-sdk';

export const WEBHOOK_USER_AGENT = 'metering-webhooks/1';

/**
 * The body every endpoint receives for a domain event, serialized once when the delivery is
 * created: every attempt (and a redelivery) sends these exact bytes.
 */
export function webhookBody(event: DomainEventEnvelope): string {
  const body: WebhookEvent = {
    id: event.eventId,
    type: event.type,
    occurredAt: event.occurredAt,
    accountId: event.accountId,
    ...(event.tenantId ? { tenantId: event.tenantId } : {}),
    data: event.data,
  };
  return JSON.stringify(body);
}

export interface DeliveryRequestInput {
  deliveryId: string;
  eventId: string;
  eventType: string;
  attempt: number;
  secret: string;
  body: string;
  /** When the attempt is signed, in unix seconds. */
  timestampSec: number;
}

/** Headers of one attempt: signed at the moment it is sent, so receivers can refuse replays. */
export function deliveryHeaders(input: DeliveryRequestInput): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': WEBHOOK_USER_AGENT,
    [WEBHOOK_HEADERS.signature]: signWebhookPayload(input.secret, input.body, input.timestampSec),
    [WEBHOOK_HEADERS.deliveryId]: input.deliveryId,
    [WEBHOOK_HEADERS.eventId]: input.eventId,
    [WEBHOOK_HEADERS.eventType]: input.eventType,
    [WEBHOOK_HEADERS.attempt]: String(input.attempt),
  };
}
