/**
 * Usage quantities as exact decimals: bigint counts of nano-units (9 decimal places). Floats
 * would make pooled sums depend on event order; these do not.
 */
export type Quantity = bigint;

export const QUANTITY_SCALE = 9;
const ONE = 10n ** BigInt(QUANTITY_SCALE);

/** One whole unit (one event of a COUNT meter, one user of a UNIQUE_COUNT meter). */
export const UNIT: Quantity = ONE;

const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * A finite number or decimal string as a quantity, exactly when it has at most nine decimal
 * places, otherwise rounded half to even at the ninth. Numbers are read through their shortest
 * decimal form (`0.1` is 0.1, not 0.1000000000000000055…).
 */
export function toQuantity(value: number | string): Quantity {
  const text = typeof value === 'number' ? String(value) : value.trim();
  if (typeof value === 'number' && !Number.isFinite(value))
    throw new RangeError(`not a finite number: ${text}`);
  const m = DECIMAL.exec(text);
  if (!m) throw new RangeError(`not a decimal number: ${text}`);
  const [, sign, whole, fraction = '', exponent = '0'] = m;
  const digits = BigInt(whole + fraction);
  const shift = Number(exponent) - fraction.length + QUANTITY_SCALE;
  const magnitude =
    shift >= 0 ? digits * 10n ** BigInt(shift) : divideHalfEven(digits, 10n ** BigInt(-shift));
  return sign ? -magnitude : magnitude;
}

/** `a / b` rounded half to even (b > 0). */
export function divideHalfEven(a: bigint, b: bigint): bigint {
  const q = a / b;
  const r = a % b;
  const twice = 2n * (r < 0n ? -r : r);
  if (twice < b || (twice === b && q % 2n === 0n)) return q;
  return a < 0n ? q - 1n : q + 1n;
}

/** The quantity as a plain decimal string without trailing zeros: `1.5`, `-2`, `0.000000001`. */
export function formatQuantity(q: Quantity): string {
  const negative = q < 0n;
  const digits = (negative ? -q : q).toString().padStart(QUANTITY_SCALE + 1, '0');
  const whole = digits.slice(0, -QUANTITY_SCALE);
  const fraction = digits.slice(-QUANTITY_SCALE).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}
