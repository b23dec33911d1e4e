import fc from 'fast-check';
import { BillingMathError } from '../errors';

/** The code of the error `f` throws (the error itself if it is not ours), or undefined. */
export function errorCode(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e instanceof BillingMathError ? e.code : e;
  }
  return undefined;
}

/** Non-negative decimal strings with up to `maxScale` places, built from digits (no floats). */
export const decimalText = (maxScale: number, max = 10n ** 6n): fc.Arbitrary<string> =>
  fc
    .tuple(fc.bigInt({ min: 0n, max }), fc.integer({ min: 0, max: maxScale }))
    .map(([c, s]) =>
      s ? `${c / 10n ** BigInt(s)}.${(c % 10n ** BigInt(s)).toString().padStart(s, '0')}` : `${c}`,
    );
