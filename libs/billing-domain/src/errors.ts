import type { PriceProblem } from '@metering/billing-math';
import { AppError, type ErrorKind, type FieldError } from '@metering/contracts';

export enum BillingErrorCode {
  INVALID_PLAN = 'invalid_plan',
  PLAN_NOT_FOUND = 'plan_not_found',
  PLAN_VERSION_NOT_FOUND = 'plan_version_not_found',
  PLAN_EXISTS = 'plan_exists',
  SUBSCRIPTION_NOT_FOUND = 'subscription_not_found',
  INVALID_SUBSCRIPTION = 'invalid_subscription',
  CALENDAR_IMMUTABLE = 'calendar_immutable',
  CURRENCY_CHANGE = 'currency_change',
  INVOICE_NOT_FOUND = 'invoice_not_found',
  INVOICE_NOT_DRAFT = 'invoice_not_draft',
  INVOICE_ALREADY_VOID = 'invoice_already_void',
  INVALID_RUN = 'invalid_billing_run',
  STRIPE_SIGNATURE_INVALID = 'stripe_signature_invalid',
  TENANT_NOT_FOUND = 'tenant_not_found',
  TENANT_NOT_ACTIVE = 'tenant_not_active',
  PERIOD_CLOSED = 'period_closed',
  POOL_REJOIN_TOO_EARLY = 'pool_rejoin_too_early',
}

const KIND: Record<BillingErrorCode, ErrorKind> = {
  [BillingErrorCode.INVALID_PLAN]: 'invalid',
  [BillingErrorCode.PLAN_NOT_FOUND]: 'not_found',
  [BillingErrorCode.PLAN_VERSION_NOT_FOUND]: 'not_found',
  [BillingErrorCode.PLAN_EXISTS]: 'conflict',
  [BillingErrorCode.SUBSCRIPTION_NOT_FOUND]: 'not_found',
  [BillingErrorCode.INVALID_SUBSCRIPTION]: 'invalid',
  [BillingErrorCode.CALENDAR_IMMUTABLE]: 'conflict',
  [BillingErrorCode.CURRENCY_CHANGE]: 'invalid',
  [BillingErrorCode.INVOICE_NOT_FOUND]: 'not_found',
  [BillingErrorCode.INVOICE_NOT_DRAFT]: 'conflict',
  [BillingErrorCode.INVOICE_ALREADY_VOID]: 'conflict',
  [BillingErrorCode.INVALID_RUN]: 'invalid',
  [BillingErrorCode.STRIPE_SIGNATURE_INVALID]: 'invalid',
  [BillingErrorCode.TENANT_NOT_FOUND]: 'not_found',
  [BillingErrorCode.TENANT_NOT_ACTIVE]: 'conflict',
  [BillingErrorCode.PERIOD_CLOSED]: 'conflict',
  [BillingErrorCode.POOL_REJOIN_TOO_EARLY]: 'conflict',
};

/** Errors of plans, subscriptions and invoices; the kind follows from the code. */
export class BillingError extends AppError {
  constructor(code: BillingErrorCode, message: string, details?: unknown) {
    super(KIND[code], code, message, details);
  }
}

/** Problems as the platform's validation details: one entry per field with its reasons. */
export function asFieldErrors(problems: readonly PriceProblem[]): FieldError[] {
  const byField = new Map<string, string[]>();
  for (const p of problems) byField.set(p.field, [...(byField.get(p.field) ?? []), p.reason]);
  return [...byField].map(([field, reasons]) => ({ field, reasons }));
}
