import {
  planPricingProblems,
  type MeterPrice,
  type PriceModel,
  type PriceProblem,
} from '@metering/billing-math';
import { BillingError, BillingErrorCode, asFieldErrors } from './errors';

export const PLAN_INTERVALS = ['month'] as const;
export type PlanInterval = (typeof PLAN_INTERVALS)[number];

/** Longest grace period: late events are accepted for at most 35 days (ARCHITECTURE.md §6). */
export const MAX_GRACE_PERIOD_HOURS = 35 * 24;

const LIMIT_KEY = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** A plan's price for one meter. Quantities are decimal strings (pooled over the account's tenants). */
export interface PlanMeter {
  meterKey: string;
  /** Pooled quantity included in the base fee. */
  included: string;
  overage: PriceModel;
  /** Hard cap: at most this many overage units are billed. */
  hardCap?: string;
}

/** What a plan version says; immutable once stored (a change is a new version). */
export interface PlanVersionSpec {
  currency: string;
  interval: PlanInterval;
  /** Major units of `currency`, decimal string. */
  baseFee: string;
  meters: PlanMeter[];
  /** Default per-tenant capability limits (limit key → integer). */
  tenantLimits: Record<string, number>;
  /** How long after a period ends its invoice stays a draft and is re-rated for late events. */
  gracePeriodHours: number;
}

export interface PlanVersion extends PlanVersionSpec {
  planId: string;
  version: number;
  createdAt: string;
}

export const meterPriceOf = (m: PlanMeter): MeterPrice => ({
  meterKey: m.meterKey,
  included: m.included,
  overage: m.overage,
  ...(m.hardCap === undefined ? {} : { maxBillableQuantity: m.hardCap }),
});

/**
 * Every rule a plan version breaks, as `{ field, reason }` with the field's path in the request
 * (`meters[1].overage.tiers[0].upTo`, `meters[0].hardCap`). `knownMeters`, when given, is the
 * meter catalog: a meter outside it cannot be priced.
 */
export function planVersionProblems(
  spec: PlanVersionSpec,
  knownMeters?: ReadonlySet<string>,
): PriceProblem[] {
  const problems: PriceProblem[] = [];
  if (!PLAN_INTERVALS.includes(spec.interval)) {
    problems.push({ field: 'interval', reason: `must be one of ${PLAN_INTERVALS.join(', ')}` });
  }
  const meters = Array.isArray(spec.meters) ? spec.meters : [];
  const pricing = { currency: spec.currency, baseFee: spec.baseFee, meters: meters.map(meterPriceOf) };
  for (const p of planPricingProblems(pricing)) {
    problems.push({ field: p.field.replace(/\.maxBillableQuantity$/, '.hardCap'), reason: p.reason });
  }
  if (!Array.isArray(spec.meters)) problems.push({ field: 'meters', reason: 'must be a list' });
  if (knownMeters) {
    meters.forEach((m, i) => {
      if (typeof m.meterKey === 'string' && m.meterKey && !knownMeters.has(m.meterKey)) {
        problems.push({ field: `meters[${i}].meterKey`, reason: `unknown meter ${m.meterKey}` });
      }
    });
  }
  for (const [key, value] of Object.entries(spec.tenantLimits ?? {})) {
    if (!LIMIT_KEY.test(key))
      problems.push({ field: `tenantLimits.${key}`, reason: 'not a valid limit key' });
    else if (!Number.isSafeInteger(value) || value < 0) {
      problems.push({ field: `tenantLimits.${key}`, reason: 'must be a non-negative integer' });
    }
  }
  const grace = spec.gracePeriodHours;
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_PERIOD_HOURS) {
    problems.push({
      field: 'gracePeriodHours',
      reason: `must be an integer from 0 to ${MAX_GRACE_PERIOD_HOURS}`,
    });
  }
  return problems;
}

/** Refuses a plan version that breaks a rule, naming every field. */
export function checkPlanVersion(spec: PlanVersionSpec, knownMeters?: ReadonlySet<string>): void {
  const problems = planVersionProblems(spec, knownMeters);
  if (problems.length) {
    throw new BillingError(
      BillingErrorCode.INVALID_PLAN,
      `invalid ${problems.map((p) => p.field).join(', ')}`,
      asFieldErrors(problems),
    );
  }
}

/** The fields of a plan version the catalog keeps, in a fixed shape (unknown fields dropped). */
export function normalizePlanVersion(spec: PlanVersionSpec): PlanVersionSpec {
  return {
    currency: spec.currency,
    interval: spec.interval,
    baseFee: spec.baseFee,
    meters: spec.meters.map((m) => ({
      meterKey: m.meterKey,
      included: m.included,
      overage: normalizeModel(m.overage),
      ...(m.hardCap === undefined ? {} : { hardCap: m.hardCap }),
    })),
    tenantLimits: { ...(spec.tenantLimits ?? {}) },
    gracePeriodHours: spec.gracePeriodHours,
  };
}

function normalizeModel(model: PriceModel): PriceModel {
  switch (model.type) {
    case 'PER_UNIT':
      return { type: model.type, unitPrice: model.unitPrice };
    case 'GRADUATED':
    case 'VOLUME':
      return {
        type: model.type,
        tiers: model.tiers.map((t) => ({
          ...(t.upTo === undefined ? {} : { upTo: t.upTo }),
          unitPrice: t.unitPrice,
          ...(t.flatFee === undefined ? {} : { flatFee: t.flatFee }),
        })),
      };
    case 'PACKAGE':
      return { type: model.type, packageSize: model.packageSize, packagePrice: model.packagePrice };
    default: {
      const never: never = model;
      throw new Error(`unknown price model ${JSON.stringify(never)}`);
    }
  }
}
