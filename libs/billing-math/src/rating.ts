import { QUANTITY_SCALE, allocate, overage, type Quantity } from '@metering/meters';
import {
  MAX_PRICE_SCALE,
  ZERO,
  addDecimals,
  commonCoefficients,
  formatDecimal,
  parseDecimal,
  parseQuantity,
  sumDecimals,
  timesInteger,
  timesQuantity,
  type Decimal,
} from './decimal';
import { BillingMathError, BillingMathErrorCode, type PriceProblem } from './errors';
import { isKnownCurrency, minorUnitExponent, toMinorUnits, type MinorUnits } from './money';

export const PRICE_MODEL_TYPES = ['PER_UNIT', 'GRADUATED', 'VOLUME', 'PACKAGE'] as const;
export type PriceModelType = (typeof PRICE_MODEL_TYPES)[number];

/**
 * One tier of a GRADUATED or VOLUME model. Tiers count overage units (usage above the included
 * quantity); a tier covers the units above the previous tier's `upTo` up to and including its own.
 */
export interface PriceTier {
  /** Inclusive upper bound in units, as a decimal string; absent on the last, open-ended tier. */
  upTo?: string;
  /** Major units of the plan's currency per unit, as a decimal string. */
  unitPrice: string;
  /** Charged once when the tier is used (GRADUATED: any unit in it; VOLUME: the total falls in it). */
  flatFee?: string;
}

/** How overage is priced. All numbers are decimal strings, read exactly. */
export type PriceModel =
  | { type: 'PER_UNIT'; unitPrice: string }
  | { type: 'GRADUATED'; tiers: PriceTier[] }
  | { type: 'VOLUME'; tiers: PriceTier[] }
  | { type: 'PACKAGE'; packageSize: string; packagePrice: string };

/** A plan's price for one meter (ARCHITECTURE.md §4). */
export interface MeterPrice {
  meterKey: string;
  /** Pooled quantity included in the base fee. */
  included: string;
  overage: PriceModel;
  /** Hard cap: at most this many overage units are billed. */
  maxBillableQuantity?: string;
}

/** The prices of a plan version: currency, base fee (decimal string in major units), meters. */
export interface PlanPricing {
  currency: string;
  baseFee: string;
  meters: MeterPrice[];
}

/** One row of a line's pricing breakdown; only tiers that priced some units are listed. */
export interface RatedTier {
  /** Index into the model's `tiers`; 0 for PER_UNIT and PACKAGE. */
  tier: number;
  units: Quantity;
  /** Price per unit (PACKAGE: per package), normalised decimal string. */
  unitPrice: string;
  /** PACKAGE only: packages billed, the units divided by the package size rounded up. */
  packages?: bigint;
  flatFee: string;
  /** The tier's exact amount in major units, before rounding. */
  exactAmount: string;
  /** The tier's part of the line amount; the parts add up to the line amount exactly. */
  amount: MinorUnits;
}

/** A priced meter line of an invoice. */
export interface RatedLine {
  meterKey: string;
  currency: string;
  pooled: Quantity;
  included: Quantity;
  /** `max(0, pooled − included)`. */
  overage: Quantity;
  /** The overage after the hard cap: what the price model was applied to. */
  billable: Quantity;
  tiers: RatedTier[];
  /** Sum of the tiers' exact amounts, in major units. */
  exactAmount: string;
  /** `exactAmount` rounded half to even to minor units, once. */
  amount: MinorUnits;
}

type Check = { kind: 'quantity' | 'price' | 'money'; positive?: boolean };

/** Why `value` is not an acceptable decimal of the given kind, or undefined when it is. */
function decimalReason(value: unknown, check: Check, currency: string): string | undefined {
  if (typeof value !== 'string') return 'must be a decimal string';
  const maxScale =
    check.kind === 'quantity'
      ? QUANTITY_SCALE
      : check.kind === 'money' && isKnownCurrency(currency)
        ? minorUnitExponent(currency)
        : MAX_PRICE_SCALE;
  let d: Decimal;
  try {
    d = parseDecimal(value, Number.POSITIVE_INFINITY);
  } catch {
    return 'must be a plain decimal such as 12.5';
  }
  if (d.scale > maxScale) return `must have at most ${maxScale} decimal places`;
  if (d.coefficient < 0n) return 'must not be negative';
  if (check.positive && d.coefficient === 0n) return 'must be greater than zero';
  return undefined;
}

/**
 * Rules of one meter's price definition, as `field: reason` (fields relative to the
 * definition: `overage.tiers[1].upTo`); empty when it is sound.
 */
export function meterPriceProblems(price: MeterPrice, currency: string): PriceProblem[] {
  const problems: PriceProblem[] = [];
  const check = (field: string, value: unknown, c: Check) => {
    const reason = decimalReason(value, c, currency);
    if (reason) problems.push({ field, reason });
    return !reason;
  };
  if (!isKnownCurrency(currency))
    problems.push({ field: 'currency', reason: `unknown currency ${currency}` });
  if (typeof price.meterKey !== 'string' || !price.meterKey) {
    problems.push({ field: 'meterKey', reason: 'must be a meter key' });
  }
  check('included', price.included, { kind: 'quantity' });
  if (price.maxBillableQuantity !== undefined) {
    check('maxBillableQuantity', price.maxBillableQuantity, { kind: 'quantity' });
  }
  const model = price.overage as PriceModel | undefined;
  switch (model?.type) {
    case 'PER_UNIT':
      check('overage.unitPrice', model.unitPrice, { kind: 'price' });
      break;
    case 'GRADUATED':
    case 'VOLUME':
      problems.push(...tierProblems(model.tiers, check));
      break;
    case 'PACKAGE':
      check('overage.packageSize', model.packageSize, { kind: 'quantity', positive: true });
      check('overage.packagePrice', model.packagePrice, { kind: 'price' });
      break;
    default:
      problems.push({ field: 'overage.type', reason: `must be one of ${PRICE_MODEL_TYPES.join(', ')}` });
  }
  return problems;
}

function tierProblems(
  tiers: unknown,
  check: (field: string, value: unknown, c: Check) => boolean,
): PriceProblem[] {
  if (!Array.isArray(tiers) || tiers.length === 0) {
    return [{ field: 'overage.tiers', reason: 'must list at least one tier' }];
  }
  const problems: PriceProblem[] = [];
  let previous: Quantity | undefined;
  (tiers as PriceTier[]).forEach((tier, i) => {
    const field = `overage.tiers[${i}]`;
    check(`${field}.unitPrice`, tier.unitPrice, { kind: 'price' });
    if (tier.flatFee !== undefined) check(`${field}.flatFee`, tier.flatFee, { kind: 'money' });
    if (i === tiers.length - 1) {
      if (tier.upTo !== undefined) {
        problems.push({ field: `${field}.upTo`, reason: 'the last tier must be open-ended (no upTo)' });
      }
    } else if (tier.upTo === undefined) {
      problems.push({ field: `${field}.upTo`, reason: 'required on every tier but the last' });
    } else if (check(`${field}.upTo`, tier.upTo, { kind: 'quantity', positive: true })) {
      const upTo = parseQuantity(tier.upTo);
      if (previous !== undefined && upTo <= previous) {
        problems.push({ field: `${field}.upTo`, reason: `must be greater than tiers[${i - 1}].upTo` });
      }
      previous = upTo;
    }
  });
  return problems;
}

/** Rules of a plan's prices: currency, base fee, each meter (`meters[2].overage.unitPrice`). */
export function planPricingProblems(plan: PlanPricing): PriceProblem[] {
  const problems: PriceProblem[] = [];
  if (!isKnownCurrency(plan.currency)) {
    problems.push({ field: 'currency', reason: `unknown currency ${plan.currency}` });
  }
  const baseFee = decimalReason(plan.baseFee, { kind: 'money' }, plan.currency);
  if (baseFee) problems.push({ field: 'baseFee', reason: baseFee });
  if (!Array.isArray(plan.meters)) return [...problems, { field: 'meters', reason: 'must be a list' }];
  const seen = new Set<string>();
  plan.meters.forEach((price, i) => {
    for (const p of meterPriceProblems(price, plan.currency)) {
      if (p.field !== 'currency') problems.push({ field: `meters[${i}].${p.field}`, reason: p.reason });
    }
    if (seen.has(price.meterKey)) {
      problems.push({ field: `meters[${i}].meterKey`, reason: `${price.meterKey} is priced twice` });
    }
    seen.add(price.meterKey);
  });
  return problems;
}

interface Priced {
  tier: number;
  units: Quantity;
  unitPrice: Decimal;
  packages?: bigint;
  flatFee: Decimal;
  exact: Decimal;
}

/**
 * Prices a meter's pooled usage for a period: overage above the included quantity, capped at
 * `maxBillableQuantity`, priced by the model exactly, then rounded once to minor units. Usage
 * at or below the included quantity gives zero overage, no tiers and a zero amount.
 */
export function rateMeter(price: MeterPrice, pooled: Quantity, currency: string): RatedLine {
  const problems = meterPriceProblems(price, currency);
  if (problems.length) {
    throw new BillingMathError(
      BillingMathErrorCode.INVALID_PRICE,
      `invalid price for ${price.meterKey}: ${problems.map((p) => `${p.field} ${p.reason}`).join('; ')}`,
      problems,
    );
  }
  const included = parseQuantity(price.included);
  const over = overage(pooled, included);
  const cap = price.maxBillableQuantity === undefined ? undefined : parseQuantity(price.maxBillableQuantity);
  const billable = cap !== undefined && over > cap ? cap : over;
  const priced = billable > 0n ? priceUnits(price.overage, billable) : [];
  const exact = sumDecimals(priced.map((p) => p.exact));
  const amount = toMinorUnits(exact, currency);
  // The rounded line amount, split over the tiers in proportion to their exact amounts.
  const shares = allocate(
    amount,
    commonCoefficients(priced.map((p) => p.exact)).map((weight, i) => ({ key: String(i), weight })),
  );
  return {
    meterKey: price.meterKey,
    currency,
    pooled,
    included,
    overage: over,
    billable,
    tiers: priced.map((p, i) => ({
      tier: p.tier,
      units: p.units,
      unitPrice: formatDecimal(p.unitPrice),
      ...(p.packages === undefined ? {} : { packages: p.packages }),
      flatFee: formatDecimal(p.flatFee),
      exactAmount: formatDecimal(p.exact),
      amount: shares.get(String(i)) ?? 0n,
    })),
    exactAmount: formatDecimal(exact),
    amount,
  };
}

/** Exact amounts per tier for a positive billable quantity. */
function priceUnits(model: PriceModel, billable: Quantity): Priced[] {
  switch (model.type) {
    case 'PER_UNIT': {
      const unitPrice = parseDecimal(model.unitPrice);
      return [
        { tier: 0, units: billable, unitPrice, flatFee: ZERO, exact: timesQuantity(unitPrice, billable) },
      ];
    }
    case 'GRADUATED': {
      const priced: Priced[] = [];
      let below = 0n;
      for (const [i, t] of model.tiers.entries()) {
        if (billable <= below) break;
        const top = t.upTo === undefined ? billable : parseQuantity(t.upTo);
        const units = (billable < top ? billable : top) - below;
        priced.push(tierAmount(i, t, units));
        below = top;
      }
      return priced;
    }
    case 'VOLUME': {
      const i = model.tiers.findIndex((t) => t.upTo === undefined || billable <= parseQuantity(t.upTo));
      return [tierAmount(i, model.tiers[i], billable)];
    }
    case 'PACKAGE': {
      const size = parseQuantity(model.packageSize);
      const packages = (billable + size - 1n) / size;
      const unitPrice = parseDecimal(model.packagePrice);
      return [
        {
          tier: 0,
          units: billable,
          unitPrice,
          packages,
          flatFee: ZERO,
          exact: timesInteger(unitPrice, packages),
        },
      ];
    }
    default: {
      const never: never = model;
      throw new Error(`unknown price model ${JSON.stringify(never)}`);
    }
  }
}

function tierAmount(tier: number, t: PriceTier, units: Quantity): Priced {
  const unitPrice = parseDecimal(t.unitPrice);
  const flatFee = t.flatFee === undefined ? ZERO : parseDecimal(t.flatFee);
  return { tier, units, unitPrice, flatFee, exact: addDecimals(timesQuantity(unitPrice, units), flatFee) };
}
