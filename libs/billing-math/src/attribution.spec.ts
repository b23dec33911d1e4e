import fc from 'fast-check';
import { DEFAULT_METERS, UNIT, UsagePool } from '@metering/meters';
import { attributeAmount } from './attribution';
import { BillingMathErrorCode } from './errors';
import { rateMeter } from './rating';
import { errorCode } from './test-support/generators';

const contributions = fc
  .uniqueArray(
    fc.record({
      tenantId: fc.stringMatching(/^t-[a-z0-9]{1,4}$/),
      contribution: fc.bigInt({ min: 0n, max: 10n ** 15n }),
    }),
    { selector: (c) => c.tenantId, minLength: 1, maxLength: 12 },
  )
  .filter((cs) => cs.some((c) => c.contribution > 0n));

const amounts = fc.bigInt({ min: -(10n ** 9n), max: 10n ** 9n });

describe(attributeAmount.name, () => {
  it('makes the sub-lines add up to the line exactly', () => {
    fc.assert(
      fc.property(amounts, contributions, (amount, cs) => {
        const shares = attributeAmount(amount, cs);
        expect(shares.reduce((s, x) => s + x.amount, 0n)).toBe(amount);
        expect(shares.map((s) => s.tenantId)).toEqual(cs.map((c) => c.tenantId).sort());
      }),
      { numRuns: 300 },
    );
  });

  it('gives each tenant its proportional share within one minor unit', () => {
    fc.assert(
      fc.property(amounts, contributions, (amount, cs) => {
        const total = cs.reduce((s, c) => s + c.contribution, 0n);
        const shares = new Map(attributeAmount(amount, cs).map((s) => [s.tenantId, s.amount]));
        for (const c of cs) {
          const gap = (shares.get(c.tenantId) ?? 0n) * total - amount * c.contribution;
          expect((gap < 0n ? -gap : gap) < total).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('does not depend on the order tenants are listed in', () => {
    const reordered = contributions.chain((cs) =>
      fc.tuple(fc.constant(cs), fc.shuffledSubarray(cs, { minLength: cs.length, maxLength: cs.length })),
    );
    fc.assert(
      fc.property(amounts, reordered, (amount, [cs, shuffled]) => {
        expect(attributeAmount(amount, shuffled)).toEqual(attributeAmount(amount, cs));
      }),
      { numRuns: 200 },
    );
  });

  it('breaks an even tie by tenant id', () => {
    expect(
      attributeAmount(1n, [
        { tenantId: 't-b', contribution: UNIT },
        { tenantId: 't-a', contribution: UNIT },
      ]),
    ).toEqual([
      { tenantId: 't-a', amount: 1n },
      { tenantId: 't-b', amount: 0n },
    ]);
  });

  it('counts a negative contribution as zero', () => {
    expect(
      attributeAmount(100n, [
        { tenantId: 't-a', contribution: 3n * UNIT },
        { tenantId: 't-b', contribution: -2n * UNIT },
        { tenantId: 't-c', contribution: UNIT },
      ]),
    ).toEqual([
      { tenantId: 't-a', amount: 75n },
      { tenantId: 't-b', amount: 0n },
      { tenantId: 't-c', amount: 25n },
    ]);
  });

  it('refuses a non-zero amount nobody contributed to, and a tenant listed twice', () => {
    expect(errorCode(() => attributeAmount(5n, [{ tenantId: 't-a', contribution: 0n }]))).toBe(
      BillingMathErrorCode.INVALID_ATTRIBUTION,
    );
    expect(attributeAmount(0n, [{ tenantId: 't-a', contribution: 0n }])).toEqual([
      { tenantId: 't-a', amount: 0n },
    ]);
    const twice = [
      { tenantId: 't-a', contribution: UNIT },
      { tenantId: 't-a', contribution: UNIT },
    ];
    expect(errorCode(() => attributeAmount(5n, twice))).toBe(BillingMathErrorCode.INVALID_ATTRIBUTION);
  });

  it("splits a rated line over a pool's tenants", () => {
    const meter = DEFAULT_METERS[0];
    const pool = new UsagePool(meter)
      .add(
        ['t-a', 't-a', 't-b', 't-c', 't-c', 't-c'].map((tenantId, i) => ({
          tenantId,
          eventId: `e${i}`,
          timeMs: i,
          subject: `u${i}`,
          value: 700n * UNIT,
        })),
      )
      .result();
    const line = rateMeter(
      { meterKey: meter.key, included: '0', overage: { type: 'PER_UNIT', unitPrice: '0.0333' } },
      pool.pooled,
      'USD',
    );
    const shares = attributeAmount(line.amount, pool.tenants);
    expect(shares.reduce((s, x) => s + x.amount, 0n)).toBe(line.amount);
    expect(shares.every((s) => s.amount > 0n)).toBe(true);
  });
});
