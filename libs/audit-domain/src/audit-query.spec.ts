import fc from 'fast-check';
import { checkFilter, decodeCursor, encodeCursor, likePrefix } from './audit-query';

describe(decodeCursor.name, () => {
  it('reads back every cursor it made', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 9_223_372_036_854_775_807n }), (id) => {
        expect(decodeCursor(encodeCursor(id.toString()))).toBe(id.toString());
      }),
    );
  });

  it.each([
    '',
    'abc',
    Buffer.from('a1:0').toString('base64url'),
    Buffer.from('a1:1;DROP').toString('base64url'),
  ])('refuses %j naming the cursor field', (cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(
      expect.objectContaining({
        code: 'validation_failed',
        details: [expect.objectContaining({ field: 'cursor' })],
      }),
    );
  });
});

describe(checkFilter.name, () => {
  it('refuses an empty time range naming `to`', () => {
    expect(() => checkFilter({ fromMs: 10, toMs: 10 })).toThrow(
      expect.objectContaining({ details: [expect.objectContaining({ field: 'to' })] }),
    );
    expect(checkFilter({ fromMs: 10, toMs: 11 })).toEqual({ fromMs: 10, toMs: 11 });
  });
});

describe(likePrefix.name, () => {
  it('matches the prefix literally', () => {
    expect(likePrefix('tenant.')).toBe('tenant.%');
    expect(likePrefix('a_b%c\\')).toBe('a\\_b\\%c\\\\%');
  });
});
