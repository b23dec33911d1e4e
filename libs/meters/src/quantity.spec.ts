import fc from 'fast-check';
import { divideHalfEven, formatQuantity, toQuantity } from './quantity';

describe('toQuantity', () => {
  it.each([
    [3.5, 3_500_000_000n],
    [0.1, 100_000_000n],
    ['-2', -2_000_000_000n],
    [1e-9, 1n],
    ['1.0000000005', 1_000_000_000n],
    ['1.0000000015', 1_000_000_002n],
    [1e21, 10n ** 30n],
  ])('reads %p exactly', (input, expected) => {
    expect(toQuantity(input)).toBe(expected);
  });

  it.each([Infinity, NaN, 'abc', ''])('refuses %p', (input) => {
    expect(() => toQuantity(input)).toThrow(RangeError);
  });

  it('round-trips through its decimal string', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), (q) => {
        expect(toQuantity(formatQuantity(q))).toBe(q);
      }),
    );
  });
});

describe('divideHalfEven', () => {
  it('rounds halves to the even neighbour, either sign', () => {
    expect([5n, 15n, 25n, -5n, -15n, 7n].map((a) => divideHalfEven(a, 10n))).toEqual([
      0n,
      2n,
      2n,
      0n,
      -2n,
      1n,
    ]);
  });
});
