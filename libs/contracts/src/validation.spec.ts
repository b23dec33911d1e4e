import fc from 'fast-check';
import { MAX_INPUT_DEPTH, unstorableInput, unstorableText } from './validation';

describe(unstorableInput.name, () => {
  it('names each string or property name with NUL or an unpaired surrogate by its path', () => {
    const body = {
      name: 'ok 😀 é ‮ \u0001',
      profile: { companyName: 'a\u0000b', adminContact: { phone: 'x\uD800' } },
      tenants: [{ name: 'fine' }, { name: '\uDC00' }],
      limits: { 'max\u0000Agents': 3 },
    };
    expect(unstorableInput(body)).toEqual([
      { field: 'profile.companyName', reasons: ['must not contain NUL (\\u0000) characters'] },
      {
        field: 'profile.adminContact.phone',
        reasons: ['must be well-formed Unicode (it has an unpaired surrogate)'],
      },
      { field: 'tenants.1.name', reasons: ['must be well-formed Unicode (it has an unpaired surrogate)'] },
      { field: 'limits.max\u0000Agents', reasons: ['its name must not contain NUL (\\u0000) characters'] },
    ]);
  });

  it('names a path parameter or a whole value by the name it was given', () => {
    expect(unstorableInput('a\u0000', 'id')).toEqual([{ field: 'id', reasons: [expect.any(String)] }]);
    expect(unstorableInput(['\uD83D'])).toEqual([{ field: '0', reasons: [expect.any(String)] }]);
    expect(unstorableInput('\u0000')).toEqual([{ field: '$', reasons: [expect.any(String)] }]);
  });

  it(`refuses nesting deeper than ${MAX_INPUT_DEPTH} levels, at any depth, without recursion`, () => {
    const nested = (depth: number) => JSON.parse('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)) as unknown;
    expect(unstorableInput(nested(MAX_INPUT_DEPTH))).toEqual([]);
    expect(unstorableInput(nested(MAX_INPUT_DEPTH + 1))).toEqual([
      {
        field: Array.from({ length: MAX_INPUT_DEPTH }, () => 'a').join('.'),
        reasons: [`must not be nested deeper than ${MAX_INPUT_DEPTH} levels`],
      },
    ]);
    expect(unstorableInput(JSON.parse('['.repeat(200_000) + ']'.repeat(200_000)))).toHaveLength(1);
  });

  it('lists at most twenty problems', () => {
    expect(unstorableInput(Array.from({ length: 1000 }, () => '\u0000'))).toHaveLength(20);
  });

  it('passes every well-formed string without NUL, and refuses every one with either', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(unstorableText(text) === undefined).toBe(!text.includes('\u0000'));
      }),
    );
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.integer({ min: 0xd800, max: 0xdfff }),
        fc.string({ unit: 'binary' }),
        (before, surrogate, after) => {
          // An unpaired half, unless the neighbours happen to pair it.
          const text = `${before}${String.fromCharCode(surrogate)}${after}`;
          const wellFormed = Buffer.from(text, 'utf8').toString('utf8') === text;
          expect(unstorableText(text) === undefined).toBe(wellFormed && !text.includes('\u0000'));
        },
      ),
    );
  });
});
