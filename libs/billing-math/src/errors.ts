import { AppError, type ErrorKind } from '@metering/contracts';

export enum BillingMathErrorCode {
  UNKNOWN_CURRENCY = 'unknown_currency',
  INVALID_DECIMAL = 'invalid_decimal',
  TOO_MANY_DECIMALS = 'too_many_decimals',
  INVALID_TIME_ZONE = 'invalid_timezone',
  INVALID_ANCHOR_DAY = 'invalid_anchor_day',
  INVALID_INSTANT = 'invalid_instant',
  INVALID_PRICE = 'invalid_price',
  INVALID_ATTRIBUTION = 'invalid_attribution',
  POOL_NOT_EXACT = 'pool_not_exact',
}

/** A field of a price or plan definition that breaks a rule, named by its path (`tiers[1].upTo`). */
export interface PriceProblem {
  field: string;
  reason: string;
}

/**
 * Errors of this library: invalid input, except usage that cannot be pooled exactly over a change
 * of billing mode (`conflict`). The caller maps them once at its edge.
 */
export class BillingMathError extends AppError {
  constructor(
    code: BillingMathErrorCode,
    message: string,
    details?: unknown,
    kind: Extract<ErrorKind, 'invalid' | 'conflict'> = 'invalid',
  ) {
    super(kind, code, message, details);
  }
}
