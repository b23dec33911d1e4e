import { divideHalfEven } from '@metering/meters';
import { BillingMathError, BillingMathErrorCode } from './errors';
import type { MinorUnits } from './money';
import type { BillingPeriod } from './periods';

/** A fixed amount split at an instant of its period. */
export interface ProratedAmount {
  /** Part for `[period.startMs, atMs)`. */
  before: bigint;
  /** Part for `[atMs, period.endMs)`. */
  after: bigint;
}

/**
 * Splits a fixed amount of a period (a base fee in minor units, or an included quantity in
 * nano-units) at an instant by elapsed time: `after = amount × (end − at) / (end − start)`,
 * measured in milliseconds and rounded half to even once; `before = amount − after`, so the
 * parts add up to the amount exactly.
 */
export function prorate(amount: bigint, period: BillingPeriod, atMs: number): ProratedAmount {
  if (!Number.isInteger(atMs) || atMs < period.startMs || atMs > period.endMs) {
    throw new BillingMathError(
      BillingMathErrorCode.INVALID_INSTANT,
      `proration instant ${atMs} is outside the period [${period.startMs}, ${period.endMs}]`,
    );
  }
  const after = divideHalfEven(amount * BigInt(period.endMs - atMs), BigInt(period.endMs - period.startMs));
  return { before: amount - after, after };
}

/** Base fees owed for a period in which the plan changed at `atMs`. */
export interface PlanChangeCharges {
  /** The old plan's fee for `[start, at)`. */
  oldPlan: MinorUnits;
  /** The new plan's fee for `[at, end)`. */
  newPlan: MinorUnits;
}

/**
 * The old plan's base fee for the time before the change plus the new plan's for the time after,
 * each a {@link prorate} part; with equal fees they add up to the fee exactly.
 */
export function planChangeCharges(
  oldFee: MinorUnits,
  newFee: MinorUnits,
  period: BillingPeriod,
  atMs: number,
): PlanChangeCharges {
  return { oldPlan: prorate(oldFee, period, atMs).before, newPlan: prorate(newFee, period, atMs).after };
}
