import fc from 'fast-check';
import { UNIT } from '@metering/meters';
import { BillingMathErrorCode } from './errors';
import {
  CURRENCY_EXPONENTS,
  formatMoney,
  minorUnitExponent,
  parseMoney,
  parseUnitPrice,
  priceTimesQuantity,
} from './money';
import { decimalText, errorCode } from './test-support/generators';

const currencies = fc.constantFrom(...CURRENCY_EXPONENTS.keys());
describe(minorUnitExponent.name, () => {
  it.each([
    ['JPY', 0],
    ['KRW', 0],
    ['USD', 2],
    ['EUR', 2],
    ['GBP', 2],
    ['KWD', 3],
    ['BHD', 3],
    ['CLF', 4],
  ])('knows %s has %d decimal places', (code, exponent) => {
    expect(minorUnitExponent(code)).toBe(exponent);
  });

  it.each(['XYZ', 'usd', '', 'US D'])('refuses the unknown currency %j', (code) => {
    expect(errorCode(() => minorUnitExponent(code))).toBe(BillingMathErrorCode.UNKNOWN_CURRENCY);
  });
});

describe(formatMoney.name, () => {
  it.each([
    [1230n, 'USD', '12.30'],
    [-5n, 'USD', '-0.05'],
    [0n, 'EUR', '0.00'],
    [1200n, 'JPY', '1200'],
    [1234n, 'KWD', '1.234'],
    [-1n, 'BHD', '-0.001'],
  ])('writes %d minor units of %s as %s', (amount, currency, text) => {
    expect(formatMoney(amount, currency)).toBe(text);
  });
});

describe(parseMoney.name, () => {
  it('reads back every amount it formats, in every currency', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), currencies, (amount, currency) => {
        expect(parseMoney(formatMoney(amount, currency), currency)).toBe(amount);
      }),
      { numRuns: 300 },
    );
  });

  it('reads decimals with fewer places than the currency has', () => {
    expect(parseMoney('12.3', 'USD')).toBe(1230n);
    expect(parseMoney('7', 'KWD')).toBe(7000n);
  });

  it('refuses more decimal places than the currency has instead of rounding', () => {
    expect(errorCode(() => parseMoney('1.005', 'USD'))).toBe(BillingMathErrorCode.TOO_MANY_DECIMALS);
    expect(errorCode(() => parseMoney('1.5', 'JPY'))).toBe(BillingMathErrorCode.TOO_MANY_DECIMALS);
  });

  it.each(['1e3', '1,00', ' 1', '+1', '', '.5', '5.', 'NaN', '0x10'])('refuses %j', (text) => {
    expect(errorCode(() => parseMoney(text, 'USD'))).toBe(BillingMathErrorCode.INVALID_DECIMAL);
  });
});

describe(parseUnitPrice.name, () => {
  it('keeps every digit of a unit price', () => {
    expect(parseUnitPrice('0.0025')).toEqual({ coefficient: 25n, scale: 4 });
    expect(parseUnitPrice('0.000000000000000001')).toEqual({ coefficient: 1n, scale: 18 });
  });

  it('refuses prices finer than 18 decimal places', () => {
    expect(errorCode(() => parseUnitPrice('0.0000000000000000001'))).toBe(
      BillingMathErrorCode.TOO_MANY_DECIMALS,
    );
  });
});

describe(priceTimesQuantity.name, () => {
  it('rounds the exact product half to even, once', () => {
    fc.assert(
      fc.property(
        decimalText(12, 10n ** 8n),
        fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }),
        currencies,
        (price, quantity, currency) => {
          const amount = priceTimesQuantity(price, quantity, currency);
          // Exact value as a fraction n / d of minor units.
          const { coefficient, scale } = parseUnitPrice(price);
          const n = coefficient * quantity * 10n ** BigInt(minorUnitExponent(currency));
          const d = 10n ** BigInt(scale + 9);
          const error = amount * d - n;
          const twice = 2n * (error < 0n ? -error : error);
          expect(twice <= d).toBe(true);
          if (twice === d) expect(amount % 2n).toBe(0n);
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each([
    ['0.005', 0n],
    ['0.015', 2n],
    ['0.025', 2n],
    ['0.0251', 3n],
  ])('rounds %s USD for one unit to %d cents', (price, cents) => {
    expect(priceTimesQuantity(price, UNIT, 'USD')).toBe(cents);
  });

  it('rounds negative halves to even as well', () => {
    expect(priceTimesQuantity('0.015', -UNIT, 'USD')).toBe(-2n);
    expect(priceTimesQuantity('0.005', -UNIT, 'USD')).toBe(0n);
  });

  it('multiplies without floats: 0.1 × 3 is exactly 0.30', () => {
    expect(priceTimesQuantity('0.1', 3n * UNIT, 'USD')).toBe(30n);
    expect(priceTimesQuantity('0.000001', 1_500_000_000n * UNIT, 'JPY')).toBe(1500n);
  });

  it('prices fractional quantities', () => {
    // 2.5 GB at 0.023 USD per GB = 0.0575 → 0.06
    expect(priceTimesQuantity('0.023', (5n * UNIT) / 2n, 'USD')).toBe(6n);
  });
});
