import fc from 'fast-check';
import { compareDecimals, sumDecimals } from './decimal';

describe(sumDecimals.name, () => {
  it('adds exactly where floats would not', () => {
    expect(sumDecimals(['0.1', '0.2'])).toBe('0.3');
    expect(sumDecimals(['10', '8', '3'])).toBe('21');
    expect(sumDecimals(['1.5', '-1.5'])).toBe('0');
    expect(sumDecimals(['0.333333333', '0.666666667'])).toBe('1');
    expect(sumDecimals(['-2.25', '1'])).toBe('-1.25');
    expect(sumDecimals([])).toBe('0');
  });

  it('equals BigInt arithmetic on the same quantities at nine decimals', () => {
    const nano = fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n });
    const asDecimal = (n: bigint) => {
      const abs = n < 0n ? -n : n;
      return `${n < 0n ? '-' : ''}${abs / 10n ** 9n}.${(abs % 10n ** 9n).toString().padStart(9, '0')}`;
    };
    fc.assert(
      fc.property(fc.array(nano, { maxLength: 20 }), (values) => {
        const total = values.reduce((a, b) => a + b, 0n);
        expect(compareDecimals(sumDecimals(values.map(asDecimal)), asDecimal(total))).toBe(0);
      }),
    );
  });

  it('refuses what is not a decimal', () => {
    expect(() => sumDecimals(['1e3'])).toThrow('not a decimal: 1e3');
  });
});

describe(compareDecimals.name, () => {
  it('orders by value, not by text', () => {
    expect(compareDecimals('15', '21')).toBe(-1);
    expect(compareDecimals('9', '10')).toBe(-1);
    expect(compareDecimals('2.50', '2.5')).toBe(0);
    expect(compareDecimals('-1', '-2')).toBe(1);
  });
});
