import fc from 'fast-check';
import { UnsafeSqlValueError, ident, literal, quoteIdentifier, quoteString, sql } from './escape';

describe(quoteString.name, () => {
  it('escapes quotes and backslashes', () => {
    expect(quoteString(`a'b\\c`)).toBe(`'a\\'b\\\\c'`);
  });

  it('escapes control characters as \\xHH', () => {
    expect(quoteString('a\0b\nc')).toBe(`'a\\x00b\\x0ac'`);
  });

  it('never leaves an unescaped quote or control character in the literal', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const body = quoteString(s).slice(1, -1);
        // Remove escape pairs; what is left must hold no quote, backslash or control char.
        const rest = body.replace(/\\x[0-9a-f]{2}|\\\\|\\'/g, '');
        expect(rest).not.toMatch(/['\\\u0000-\u001f\u007f]/);
      }),
    );
  });

  it('refuses a lone surrogate (it cannot round-trip through UTF-8)', () => {
    expect(() => quoteString('a\ud800b')).toThrow(UnsafeSqlValueError);
  });
});

describe(quoteIdentifier.name, () => {
  it('quotes plain names', () => {
    expect(quoteIdentifier('usage_events')).toBe('`usage_events`');
  });

  it.each(['', '1abc', 'a-b', 'a`b', 'x; DROP TABLE y', 'naïve'])('refuses %j', (name) => {
    expect(() => quoteIdentifier(name)).toThrow(UnsafeSqlValueError);
  });
});

describe(literal.name, () => {
  it.each([
    [null, 'NULL'],
    [42, '42'],
    [-1.5, '-1.5'],
    [true, '1'],
    [12345678901234567890n, '12345678901234567890'],
    [['a', 1], "['a', 1]"],
  ])('renders %p as %s', (value, expected) => {
    expect(literal(value)).toBe(expected);
  });

  it.each([NaN, Infinity, -Infinity, 2 ** 60])('refuses %p', (value) => {
    expect(() => literal(value)).toThrow(UnsafeSqlValueError);
  });
});

describe(sql.name, () => {
  it('renders values as literals and fragments verbatim', () => {
    expect(sql`SELECT * FROM ${ident('t')} WHERE a = ${"x'"} AND b IN ${[1, 2]}`.text).toBe(
      "SELECT * FROM `t` WHERE a = 'x\\'' AND b IN [1, 2]",
    );
  });
});
