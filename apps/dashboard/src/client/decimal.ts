// Quantities arrive as exact decimal strings; figures the page derives from them (the sum of the
// tenants' peaks) stay exact: BigInt units at the largest scale involved, never floats.

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

interface Scaled {
  units: bigint;
  scale: number;
}

function parse(value: string): Scaled {
  const m = DECIMAL.exec(value);
  if (!m) throw new Error(`not a decimal: ${value}`);
  const fraction = m[3] ?? '';
  const units = BigInt(m[2] + fraction);
  return { units: m[1] ? -units : units, scale: fraction.length };
}

const rescale = (d: Scaled, scale: number): bigint => d.units * 10n ** BigInt(scale - d.scale);

function format(units: bigint, scale: number): string {
  const sign = units < 0n ? '-' : '';
  const digits = (units < 0n ? -units : units).toString().padStart(scale + 1, '0');
  if (scale === 0) return sign + digits;
  const whole = digits.slice(0, -scale);
  const fraction = digits.slice(-scale).replace(/0+$/, '');
  return sign + whole + (fraction ? `.${fraction}` : '');
}

/** The exact sum of decimal strings, without trailing zeros (`'0'` for none). */
export function sumDecimals(values: readonly string[]): string {
  const parsed = values.map(parse);
  const scale = Math.max(0, ...parsed.map((d) => d.scale));
  const total = parsed.reduce((sum, d) => sum + rescale(d, scale), 0n);
  return format(total, scale);
}

/** Negative, zero or positive as `a` is below, equal to or above `b`. */
export function compareDecimals(a: string, b: string): number {
  const [x, y] = [parse(a), parse(b)];
  const scale = Math.max(x.scale, y.scale);
  const diff = rescale(x, scale) - rescale(y, scale);
  return diff < 0n ? -1 : diff > 0n ? 1 : 0;
}
