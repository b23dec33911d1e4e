import fc from 'fast-check';
import { BillingMathErrorCode } from './errors';
import { BillingCalendar } from './periods';
import { planChangeCharges, prorate } from './proration';
import { errorCode } from './test-support/generators';

const DAY = 86_400_000;
const april = new BillingCalendar({ anchorDay: 1, timeZone: 'UTC' }).periodAt(Date.UTC(2026, 3, 10));
const periods = fc
  .tuple(fc.integer({ min: 1, max: 31 }), fc.constantFrom('UTC', 'America/New_York', 'Australia/Lord_Howe'))
  .chain(([anchorDay, timeZone]) =>
    fc
      .integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) })
      .map((t) => new BillingCalendar({ anchorDay, timeZone }).periodAt(t)),
  );
const withInstant = periods.chain((p) =>
  fc.tuple(fc.constant(p), fc.integer({ min: p.startMs, max: p.endMs })),
);

describe(prorate.name, () => {
  it('splits the amount into parts that add up to it exactly', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }), withInstant, (amount, [p, at]) => {
        const { before, after } = prorate(amount, p, at);
        expect(before + after).toBe(amount);
      }),
      { numRuns: 100 },
    );
  });

  it('gives the later part half to even of its exact share', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), withInstant, (amount, [p, at]) => {
        const { after } = prorate(amount, p, at);
        const total = BigInt(p.endMs - p.startMs);
        const gap = 2n * (after * total - amount * BigInt(p.endMs - at));
        expect(gap <= total && -gap <= total).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('charges nothing before a change at the start and nothing after one at the end', () => {
    expect(prorate(3000n, april, april.startMs)).toEqual({ before: 0n, after: 3000n });
    expect(prorate(3000n, april, april.endMs)).toEqual({ before: 3000n, after: 0n });
  });

  it('rounds an exact half cent to even, once', () => {
    // April has 30 days: halfway, 101 cents split into 50.5 each; the later part rounds to 50.
    expect(prorate(101n, april, april.startMs + 15 * DAY)).toEqual({ before: 51n, after: 50n });
  });

  it('refuses an instant outside the period', () => {
    expect(errorCode(() => prorate(100n, april, april.endMs + 1))).toBe(BillingMathErrorCode.INVALID_INSTANT);
    expect(errorCode(() => prorate(100n, april, april.startMs - 1))).toBe(
      BillingMathErrorCode.INVALID_INSTANT,
    );
  });
});

describe(planChangeCharges.name, () => {
  it('charges the old fee for the time before the change and the new fee for the time after', () => {
    // An upgrade from 30.00 to 60.00 after 10 of April's 30 days.
    expect(planChangeCharges(3000n, 6000n, april, april.startMs + 10 * DAY)).toEqual({
      oldPlan: 1000n,
      newPlan: 4000n,
    });
  });

  it('charges exactly the fee when the fee does not change', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), withInstant, (fee, [p, at]) => {
        const { oldPlan, newPlan } = planChangeCharges(fee, fee, p, at);
        expect(oldPlan + newPlan).toBe(fee);
      }),
      { numRuns: 100 },
    );
  });
});
