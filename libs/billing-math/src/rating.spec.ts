import fc from 'fast-check';
import { UNIT, formatQuantity, type Quantity } from '@metering/meters';
import { parseDecimal, sumDecimals } from './decimal';
import { BillingMathError, BillingMathErrorCode } from './errors';
import { toMinorUnits } from './money';
import {
  meterPriceProblems,
  planPricingProblems,
  rateMeter,
  type MeterPrice,
  type PriceModel,
  type PriceTier,
} from './rating';
import { decimalText } from './test-support/generators';

const units = (n: number | bigint): Quantity => BigInt(n) * UNIT;

const price = (overage: PriceModel, extra: Partial<MeterPrice> = {}): MeterPrice => ({
  meterKey: 'api_calls',
  included: '1000',
  overage,
  ...extra,
});

/** Tiers from `[width, unitPrice, flatFee?]` rows; the last row's width is ignored (open-ended). */
const tiers = (...rows: [number, string, string?][]): PriceTier[] => {
  let upTo = 0;
  return rows.map(([width, unitPrice, flatFee], i) => {
    upTo += width;
    return {
      ...(i < rows.length - 1 ? { upTo: String(upTo) } : {}),
      unitPrice,
      ...(flatFee === undefined ? {} : { flatFee }),
    };
  });
};

const tierRows = fc.array(
  fc.tuple(fc.integer({ min: 1, max: 500 }), decimalText(6), fc.option(decimalText(2), { nil: undefined })),
  { minLength: 1, maxLength: 5 },
);

const models: fc.Arbitrary<PriceModel> = fc.oneof(
  decimalText(8).map((unitPrice) => ({ type: 'PER_UNIT' as const, unitPrice })),
  tierRows.map((rows) => ({ type: 'GRADUATED' as const, tiers: tiers(...rows) })),
  fc
    .tuple(decimalText(3, 10n ** 5n), decimalText(4))
    .filter(([size]) => parseDecimal(size).coefficient > 0n)
    .map(([packageSize, packagePrice]) => ({ type: 'PACKAGE' as const, packageSize, packagePrice })),
);
/** Pooled usage from below the included 1000 units to well past the tiers, with fractions. */
const pooled = fc.bigInt({ min: units(900), max: units(4000) });

const amountOf = (p: MeterPrice, q: Quantity) => rateMeter(p, q, 'USD').amount;

describe(rateMeter.name, () => {
  it('prices graduated tiers each at their own price, flat fee included', () => {
    const line = rateMeter(
      price({ type: 'GRADUATED', tiers: tiers([100, '0.005'], [900, '0.004', '1'], [0, '0.001']) }),
      units(2500),
      'USD',
    );
    expect(line.overage).toBe(units(1500));
    expect(line.tiers.map((t) => [t.tier, t.units, t.exactAmount, t.amount])).toEqual([
      [0, units(100), '0.5', 50n],
      [1, units(900), '4.6', 460n],
      [2, units(500), '0.5', 50n],
    ]);
    expect(line.amount).toBe(560n);
  });

  it('prices all units of a volume model at the tier the total falls in', () => {
    const model: PriceModel = { type: 'VOLUME', tiers: tiers([1000, '1'], [0, '0.5', '10']) };
    expect(amountOf(price(model), units(2000))).toBe(100_000n);
    const line = rateMeter(price(model), units(2001), 'USD');
    expect(line.tiers).toEqual([expect.objectContaining({ tier: 1, units: units(1001), flatFee: '10' })]);
    // 1001 × 0.5 + 10: a volume price may drop when the total crosses into a cheaper tier.
    expect(line.amount).toBe(51_050n);
  });

  it('puts a total exactly on a tier bound into that tier', () => {
    const line = rateMeter(price({ type: 'VOLUME', tiers: tiers([10, '2'], [0, '1']) }), units(1010), 'USD');
    expect(line.tiers[0].tier).toBe(0);
  });

  it('rounds the line once, not each tier', () => {
    // Each tier is exactly half a cent: rounding per tier would give 0 + 0, the line is 1 cent.
    const line = rateMeter(
      price({ type: 'GRADUATED', tiers: tiers([1, '0.005'], [0, '0.005']) }),
      units(1002),
      'USD',
    );
    expect(line.tiers.map((t) => t.exactAmount)).toEqual(['0.005', '0.005']);
    expect(line.amount).toBe(1n);
    expect(line.tiers.reduce((s, t) => s + t.amount, 0n)).toBe(1n);
  });

  it('charges zero and lists no tiers at or below the included quantity', () => {
    const flat: PriceModel[] = [
      { type: 'PER_UNIT', unitPrice: '0.01' },
      { type: 'GRADUATED', tiers: tiers([10, '1', '5'], [0, '0.5']) },
      { type: 'VOLUME', tiers: tiers([10, '1', '5'], [0, '0.5', '5']) },
      { type: 'PACKAGE', packageSize: '100', packagePrice: '3' },
    ];
    for (const model of flat) {
      for (const q of [units(1000), units(999), -units(5)]) {
        const line = rateMeter(price(model), q, 'USD');
        expect([line.overage, line.billable, line.amount, line.tiers]).toEqual([0n, 0n, 0n, []]);
      }
    }
  });

  it('bills the smallest overage above the quota', () => {
    const line = rateMeter(price({ type: 'PER_UNIT', unitPrice: '10' }), units(1000) + 1n, 'USD');
    expect([line.overage, line.exactAmount, line.amount]).toEqual([1n, '0.00000001', 0n]);
  });

  it('makes the line the sum of its tiers, exactly and after rounding', () => {
    fc.assert(
      fc.property(tierRows, pooled, (rows, q) => {
        const line = rateMeter(price({ type: 'GRADUATED', tiers: tiers(...rows) }), q, 'USD');
        const exact = sumDecimals(line.tiers.map((t) => parseDecimal(t.exactAmount)));
        expect(sumDecimals([exact, parseDecimal(`-${line.exactAmount}`)]).coefficient).toBe(0n);
        expect(line.amount).toBe(toMinorUnits(exact, 'USD'));
        expect(line.tiers.reduce((s, t) => s + t.amount, 0n)).toBe(line.amount);
        expect(line.tiers.reduce((s, t) => s + t.units, 0n)).toBe(line.billable);
      }),
      { numRuns: 200 },
    );
  });

  it('never charges less for more usage (per unit, graduated, package)', () => {
    fc.assert(
      fc.property(models, pooled, pooled, (model, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        expect(amountOf(price(model), low) <= amountOf(price(model), high)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('agrees between volume and graduated on a single open-ended tier', () => {
    fc.assert(
      fc.property(
        decimalText(6),
        fc.option(decimalText(2), { nil: undefined }),
        pooled,
        (unitPrice, fee, q) => {
          const tier = [{ unitPrice, ...(fee === undefined ? {} : { flatFee: fee }) }];
          const graduated = rateMeter(price({ type: 'GRADUATED', tiers: tier }), q, 'USD');
          const volume = rateMeter(price({ type: 'VOLUME', tiers: tier }), q, 'USD');
          expect(volume.amount).toBe(graduated.amount);
          expect(volume.exactAmount).toBe(graduated.exactAmount);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('bills whole packages, a partial one rounded up', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: units(50) }),
        decimalText(4),
        fc.bigInt({ min: 1n, max: units(500) }),
        (size, packagePrice, over) => {
          const model: PriceModel = {
            type: 'PACKAGE',
            packageSize: formatQuantity(size),
            packagePrice,
          };
          const line = rateMeter(price(model), units(1000) + over, 'USD');
          const packages = line.tiers[0].packages ?? 0n;
          expect(packages * size >= over && (packages - 1n) * size < over).toBe(true);
          const exact = parseDecimal(packagePrice);
          expect(line.amount).toBe(
            toMinorUnits({ coefficient: exact.coefficient * packages, scale: exact.scale }, 'USD'),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('charges 3 packages for 201 units in packages of 100', () => {
    const line = rateMeter(
      price({ type: 'PACKAGE', packageSize: '100', packagePrice: '2.5' }),
      units(1201),
      'USD',
    );
    expect([line.tiers[0].packages, line.amount]).toEqual([3n, 750n]);
  });

  it('bills no more than the hard cap, as if usage stopped there', () => {
    fc.assert(
      fc.property(models, pooled, fc.integer({ min: 0, max: 2000 }), (model, q, cap) => {
        const capped = rateMeter(price(model, { maxBillableQuantity: String(cap) }), q, 'USD');
        const atCap = q > units(1000 + cap) ? units(1000 + cap) : q;
        const uncapped = rateMeter(price(model), atCap, 'USD');
        expect(capped.billable <= units(cap)).toBe(true);
        expect(capped.overage).toBe(q > units(1000) ? q - units(1000) : 0n);
        expect([capped.billable, capped.tiers, capped.amount]).toEqual([
          uncapped.billable,
          uncapped.tiers,
          uncapped.amount,
        ]);
      }),
      { numRuns: 200 },
    );
  });

  it('uses the currency exponent: JPY rounds to yen, KWD to fils', () => {
    const model = price({ type: 'PER_UNIT', unitPrice: '0.0125' }, { included: '0' });
    expect(rateMeter(model, units(100), 'JPY').amount).toBe(1n);
    expect(rateMeter(model, units(100), 'KWD').amount).toBe(1250n);
  });

  it('refuses an invalid price with the problems as details', () => {
    let error: unknown;
    try {
      rateMeter(price({ type: 'PER_UNIT', unitPrice: '-1' }), units(2000), 'USD');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BillingMathError);
    expect(error).toMatchObject({
      code: BillingMathErrorCode.INVALID_PRICE,
      details: [{ field: 'overage.unitPrice', reason: 'must not be negative' }],
    });
  });
});

describe('worked examples from public pricing documentation', () => {
  const perUnitFromZero = (model: PriceModel) => price(model, { included: '0' });

  // Stripe, "Set up tiered pricing" (docs.stripe.com/subscriptions/pricing-models/tiered-pricing):
  // fonts 1-5 at 7 USD, 6-10 at 6.50 USD, 11 and more at 6 USD; its tables of monthly totals.
  const fonts: PriceTier[] = [
    { upTo: '5', unitPrice: '7' },
    { upTo: '10', unitPrice: '6.5' },
    { unitPrice: '6' },
  ];
  it.each([
    [1, 700, 700],
    [5, 3_500, 3_500],
    [6, 3_900, 4_150],
    [20, 12_000, 12_750],
    [25, 15_000, 15_750],
  ])(
    "Stripe's font tiers: %i fonts cost %i cents by volume, %i cents graduated",
    (fontCount, volume, graduated) => {
      expect(amountOf(perUnitFromZero({ type: 'VOLUME', tiers: fonts }), units(fontCount))).toBe(
        BigInt(volume),
      );
      expect(amountOf(perUnitFromZero({ type: 'GRADUATED', tiers: fonts }), units(fontCount))).toBe(
        BigInt(graduated),
      );
    },
  );

  // Lago, "Volume" charge model (getlago.com/docs/guide/plans/charges/charge-models/volume): tiers up
  // to 10,000 / 50,000 / 100,000 / more at 0.0010 / 0.0008 / 0.0006 / 0.0004 USD, each with a 10 USD
  // fee; 65,000 API calls cost 65,000 × 0.0006 + 10 = 49 USD.
  it("Lago's volume example: 65,000 API calls cost 49 USD", () => {
    const model: PriceModel = {
      type: 'VOLUME',
      tiers: [
        { upTo: '10000', unitPrice: '0.0010', flatFee: '10' },
        { upTo: '50000', unitPrice: '0.0008', flatFee: '10' },
        { upTo: '100000', unitPrice: '0.0006', flatFee: '10' },
        { unitPrice: '0.0004', flatFee: '10' },
      ],
    };
    expect(amountOf(perUnitFromZero(model), units(65_000))).toBe(4_900n);
  });

  // Zuplo, "Pricing models" (zuplo.com/docs/articles/monetization/pricing-models): 0-1,000 at 0.10,
  // 1,001-10,000 at 0.05, more at 0.01 USD; 15,000 units cost 600 USD graduated, 150 USD by volume.
  it("Zuplo's tiers: 15,000 units cost 600 USD graduated and 150 USD by volume", () => {
    const apiTiers: PriceTier[] = [
      { upTo: '1000', unitPrice: '0.10' },
      { upTo: '10000', unitPrice: '0.05' },
      { unitPrice: '0.01' },
    ];
    expect(amountOf(perUnitFromZero({ type: 'GRADUATED', tiers: apiTiers }), units(15_000))).toBe(60_000n);
    expect(amountOf(perUnitFromZero({ type: 'VOLUME', tiers: apiTiers }), units(15_000))).toBe(15_000n);
  });
});

describe(meterPriceProblems.name, () => {
  const fields = (p: MeterPrice, currency = 'USD') => meterPriceProblems(p, currency).map((x) => x.field);

  it('accepts sound definitions of every model', () => {
    fc.assert(
      fc.property(models, (model) => expect(meterPriceProblems(price(model), 'USD')).toEqual([])),
      { numRuns: 100 },
    );
  });

  it('requires ascending tier bounds', () => {
    const model: PriceModel = {
      type: 'GRADUATED',
      tiers: [{ upTo: '100', unitPrice: '1' }, { upTo: '100', unitPrice: '1' }, { unitPrice: '1' }],
    };
    expect(meterPriceProblems(price(model), 'USD')).toEqual([
      { field: 'overage.tiers[1].upTo', reason: 'must be greater than tiers[0].upTo' },
    ]);
  });

  it('requires the last tier to be open-ended and every other tier bounded', () => {
    const model: PriceModel = { type: 'VOLUME', tiers: [{ unitPrice: '1' }, { upTo: '10', unitPrice: '1' }] };
    expect(fields(price(model))).toEqual(['overage.tiers[0].upTo', 'overage.tiers[1].upTo']);
  });

  it('requires at least one tier', () => {
    expect(fields(price({ type: 'GRADUATED', tiers: [] }))).toEqual(['overage.tiers']);
  });

  it('refuses negative prices and fees, and fees finer than the currency', () => {
    const model: PriceModel = {
      type: 'GRADUATED',
      tiers: [
        { upTo: '10', unitPrice: '-0.1', flatFee: '1.005' },
        { unitPrice: '1', flatFee: '-1' },
      ],
    };
    expect(meterPriceProblems(price(model), 'USD')).toEqual([
      { field: 'overage.tiers[0].unitPrice', reason: 'must not be negative' },
      { field: 'overage.tiers[0].flatFee', reason: 'must have at most 2 decimal places' },
      { field: 'overage.tiers[1].flatFee', reason: 'must not be negative' },
    ]);
  });

  it('requires a package size above zero', () => {
    expect(fields(price({ type: 'PACKAGE', packageSize: '0', packagePrice: '1' }))).toEqual([
      'overage.packageSize',
    ]);
  });

  it('requires quantities with at most nine decimal places', () => {
    const p = price(
      { type: 'PER_UNIT', unitPrice: '1' },
      { included: '0.0000000001', maxBillableQuantity: 'x' },
    );
    expect(meterPriceProblems(p, 'USD')).toEqual([
      { field: 'included', reason: 'must have at most 9 decimal places' },
      { field: 'maxBillableQuantity', reason: 'must be a plain decimal such as 12.5' },
    ]);
  });

  it('names an unknown model type and an unknown currency', () => {
    const p = price({ type: 'STAIRSTEP' } as unknown as PriceModel);
    expect(fields(p, 'XXY')).toEqual(['currency', 'overage.type']);
  });
});

describe(planPricingProblems.name, () => {
  it('prefixes meter problems with their position and finds meters priced twice', () => {
    const perUnit: PriceModel = { type: 'PER_UNIT', unitPrice: '0.01' };
    expect(
      planPricingProblems({
        currency: 'JPY',
        baseFee: '99.5',
        meters: [price(perUnit), price({ type: 'PACKAGE', packageSize: '-1', packagePrice: '1' })],
      }),
    ).toEqual([
      { field: 'baseFee', reason: 'must have at most 0 decimal places' },
      { field: 'meters[1].overage.packageSize', reason: 'must not be negative' },
      { field: 'meters[1].meterKey', reason: 'api_calls is priced twice' },
    ]);
  });

  it('accepts a sound plan', () => {
    expect(
      planPricingProblems({
        currency: 'EUR',
        baseFee: '499.00',
        meters: [price({ type: 'PER_UNIT', unitPrice: '0.002' })],
      }),
    ).toEqual([]);
  });
});
