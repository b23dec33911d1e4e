import { AppError, type ErrorKind } from '@metering/contracts';

export enum WebhookErrorCode {
  ENDPOINT_NOT_FOUND = 'webhook_endpoint_not_found',
  ENDPOINT_EXISTS = 'webhook_endpoint_exists',
  TOO_MANY_ENDPOINTS = 'too_many_webhook_endpoints',
  ENDPOINT_DISABLED = 'webhook_endpoint_disabled',
  DELIVERY_NOT_FOUND = 'webhook_delivery_not_found',
  DELIVERY_PENDING = 'webhook_delivery_pending',
}

const KIND: Record<WebhookErrorCode, ErrorKind> = {
  [WebhookErrorCode.ENDPOINT_NOT_FOUND]: 'not_found',
  [WebhookErrorCode.ENDPOINT_EXISTS]: 'conflict',
  [WebhookErrorCode.TOO_MANY_ENDPOINTS]: 'conflict',
  [WebhookErrorCode.ENDPOINT_DISABLED]: 'conflict',
  [WebhookErrorCode.DELIVERY_NOT_FOUND]: 'not_found',
  [WebhookErrorCode.DELIVERY_PENDING]: 'conflict',
};

export class WebhookError extends AppError {
  constructor(code: WebhookErrorCode, message: string, details?: unknown) {
    super(KIND[code], code, message, details);
  }
}

export { invalidField } from '@metering/contracts';
