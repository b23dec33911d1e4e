import type { Quantity } from '@metering/meters';
import { formatFixed, parseDecimal, roundHalfEven, timesQuantity, type Decimal } from './decimal';
import { BillingMathError, BillingMathErrorCode } from './errors';

/** Amounts of money: integer counts of the currency's minor unit (cents for USD, yen for JPY). */
export type MinorUnits = bigint;

/** A unit price in major units per unit of quantity, exact (`0.0025` USD per API call). */
export type UnitPrice = Decimal;

const codes = (list: string) => list.split(' ');

// ISO 4217 active currencies by minor-unit exponent. Codes outside this table are refused rather
// than guessed: a wrong exponent would bill 100 times too much or too little.
const BY_EXPONENT: Record<number, string[]> = {
  0: codes('BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF'),
  2: codes(
    'AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD ' +
      'CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ ' +
      'GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL ' +
      'MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR ' +
      'PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT ' +
      'TOP TRY TTD TWD TZS UAH USD UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG',
  ),
  3: codes('BHD IQD JOD KWD LYD OMR TND'),
  4: codes('CLF UYW'),
};

const EXPONENTS: ReadonlyMap<string, number> = new Map(
  Object.entries(BY_EXPONENT).flatMap(([exponent, list]) => list.map((c) => [c, Number(exponent)] as const)),
);

/** Codes this library knows, with their minor-unit exponent. */
export const CURRENCY_EXPONENTS: ReadonlyMap<string, number> = EXPONENTS;

export const isKnownCurrency = (code: string): boolean => EXPONENTS.has(code);

/** Decimal places of the currency's minor unit: JPY 0, USD 2, KWD 3. Unknown codes throw. */
export function minorUnitExponent(currency: string): number {
  const exponent = EXPONENTS.get(currency);
  if (exponent === undefined) {
    throw new BillingMathError(BillingMathErrorCode.UNKNOWN_CURRENCY, `unknown currency ${currency}`, {
      field: 'currency',
    });
  }
  return exponent;
}

/** The amount as a plain decimal string in major units with every minor digit: `12.30`, `-0.05`, `1200`. */
export const formatMoney = (amount: MinorUnits, currency: string): string =>
  formatFixed(amount, minorUnitExponent(currency));

/**
 * A decimal amount in major units (`12.3`, `-0.05`) as minor units, exactly. More decimal places
 * than the currency has is an error, not a rounding: amounts are entered, prices are multiplied.
 */
export function parseMoney(text: string, currency: string): MinorUnits {
  const exponent = minorUnitExponent(currency);
  return roundHalfEven(parseDecimal(text, exponent), exponent);
}

/** A unit price given as a decimal string, exactly (at most `MAX_PRICE_SCALE` decimal places). */
export const parseUnitPrice = (text: string): UnitPrice => parseDecimal(text);

/**
 * An exact amount in major units rounded to minor units: half to even, the one rounding rule
 * of billing (docs/billing-math.md). Apply it once per line, to the line's exact total.
 */
export const toMinorUnits = (exact: Decimal, currency: string): MinorUnits =>
  roundHalfEven(exact, minorUnitExponent(currency));

/** `unitPrice × quantity` in minor units: computed exactly, rounded once. */
export function priceTimesQuantity(
  unitPrice: UnitPrice | string,
  quantity: Quantity,
  currency: string,
): MinorUnits {
  const price = typeof unitPrice === 'string' ? parseUnitPrice(unitPrice) : unitPrice;
  return toMinorUnits(timesQuantity(price, quantity), currency);
}
