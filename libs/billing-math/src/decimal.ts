import { QUANTITY_SCALE, divideHalfEven, type Quantity } from '@metering/meters';
import { BillingMathError, BillingMathErrorCode } from './errors';

/** An exact decimal: `coefficient × 10^-scale`. Prices and exact amounts are kept this way. */
export interface Decimal {
  readonly coefficient: bigint;
  readonly scale: number;
}

/** Most decimal places a price may have (a millionth of a millionth of a cent and then some). */
export const MAX_PRICE_SCALE = 18;
const MAX_TEXT_LENGTH = 64;
const PLAIN_DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

/**
 * A plain decimal string (`12`, `0.0025`, `-3.5`) exactly; no exponent, no spaces, no `+`.
 * More than `maxScale` decimal places is an error, never a rounding.
 */
export function parseDecimal(text: string, maxScale = MAX_PRICE_SCALE): Decimal {
  const m = typeof text === 'string' && text.length <= MAX_TEXT_LENGTH ? PLAIN_DECIMAL.exec(text) : null;
  if (!m) throw new BillingMathError(BillingMathErrorCode.INVALID_DECIMAL, `not a plain decimal: ${text}`);
  const [, sign, whole, fraction = ''] = m;
  if (fraction.length > maxScale) {
    throw new BillingMathError(
      BillingMathErrorCode.TOO_MANY_DECIMALS,
      `${text} has more than ${maxScale} decimal places`,
    );
  }
  const magnitude = BigInt(whole + fraction);
  return { coefficient: sign ? -magnitude : magnitude, scale: fraction.length };
}

/** Reads a quantity definition (`included`, tier bounds): at most nine decimal places, exactly. */
export function parseQuantity(text: string): Quantity {
  return rescale(parseDecimal(text, QUANTITY_SCALE), QUANTITY_SCALE);
}

/** The decimal without trailing zeros: `0.01`, `-2`, `1250.5`. */
export function formatDecimal(d: Decimal): string {
  const trimmed = formatFixed(d.coefficient, d.scale).replace(/(\.\d*?)0+$/, '$1');
  return trimmed.endsWith('.') ? trimmed.slice(0, -1) : trimmed;
}

/** `coefficient × 10^-scale` with exactly `scale` decimal places: `formatFixed(1230n, 2)` is `12.30`. */
export function formatFixed(coefficient: bigint, scale: number): string {
  const negative = coefficient < 0n;
  const digits = (negative ? -coefficient : coefficient).toString().padStart(scale + 1, '0');
  const whole = scale ? digits.slice(0, -scale) : digits;
  return `${negative ? '-' : ''}${whole}${scale ? `.${digits.slice(-scale)}` : ''}`;
}

export const ZERO: Decimal = { coefficient: 0n, scale: 0 };

/** The coefficient of `d` at a scale at least as large as its own (exact). */
function rescale(d: Decimal, scale: number): bigint {
  return d.coefficient * 10n ** BigInt(scale - d.scale);
}

export function addDecimals(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  return { coefficient: rescale(a, scale) + rescale(b, scale), scale };
}

export const sumDecimals = (values: readonly Decimal[]): Decimal => values.reduce(addDecimals, ZERO);

/** `price × quantity` exactly (the quantity in nano-units). */
export const timesQuantity = (price: Decimal, quantity: Quantity): Decimal => ({
  coefficient: price.coefficient * quantity,
  scale: price.scale + QUANTITY_SCALE,
});

export const timesInteger = (price: Decimal, n: bigint): Decimal => ({
  coefficient: price.coefficient * n,
  scale: price.scale,
});

/**
 * The decimal at `scale` places, rounded half to even when it has more. This is the only place
 * an exact amount loses digits; callers apply it once per line.
 */
export function roundHalfEven(d: Decimal, scale: number): bigint {
  return d.scale <= scale ? rescale(d, scale) : divideHalfEven(d.coefficient, 10n ** BigInt(d.scale - scale));
}

/** The coefficients of several decimals at one common scale, e.g. as weights. */
export function commonCoefficients(values: readonly Decimal[]): bigint[] {
  const scale = Math.max(0, ...values.map((v) => v.scale));
  return values.map((v) => rescale(v, scale));
}
