import { IsInt, IsString, MaxLength } from 'class-validator';
import { AppError } from '@metering/contracts';
import { createValidationPipe, PositiveIntParamPipe } from './validation.pipe';

class LimitQuery {
  @IsInt()
  limit!: number;
}

class NameDto {
  @IsString()
  @MaxLength(10)
  name!: string;
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (err: unknown) =>
      err instanceof AppError ? { kind: err.kind, code: err.code, details: err.details } : err,
  );

describe(createValidationPipe.name, () => {
  const pipe = createValidationPipe();

  it('refuses a DTO body with NUL in a field, naming it, before the DTO rules run', async () => {
    expect(await refusal(pipe.transform({ name: 'a\u0000' }, { type: 'body', metatype: NameDto }))).toEqual({
      kind: 'invalid',
      code: 'validation_failed',
      details: [{ field: 'name', reasons: ['must not contain NUL (\\u0000) characters'] }],
    });
  });

  it('checks a raw body, a query and a path parameter too', async () => {
    const body = [{ subject: 'u\uD800' }];
    expect(await refusal(pipe.transform(body, { type: 'body', metatype: Object }))).toMatchObject({
      details: [{ field: '0.subject' }],
    });
    expect(
      await refusal(pipe.transform({ cursor: '\u0000' }, { type: 'query', metatype: Object })),
    ).toMatchObject({
      details: [{ field: 'cursor' }],
    });
    expect(
      await refusal(pipe.transform('t\u0000', { type: 'param', metatype: String, data: 'id' })),
    ).toMatchObject({ details: [{ field: 'id' }] });
  });

  it('answers a body nested a hundred thousand levels deep with 400, not a stack overflow', async () => {
    const deep = JSON.parse('{"name":'.repeat(100_000) + '1' + '}'.repeat(100_000)) as unknown;
    expect(await refusal(pipe.transform(deep, { type: 'body', metatype: NameDto }))).toMatchObject({
      code: 'validation_failed',
      details: [{ reasons: ['must not be nested deeper than 32 levels'] }],
    });
  });

  it('refuses a body value of the wrong JSON type, naming the field, instead of converting it', async () => {
    for (const name of [-1, { toString: 0 }, ['a']]) {
      expect(await refusal(pipe.transform({ name }, { type: 'body', metatype: NameDto }))).toMatchObject({
        kind: 'invalid',
        code: 'validation_failed',
        details: [{ field: 'name' }],
      });
    }
  });

  it('converts query text to the declared type', async () => {
    expect(await pipe.transform({ limit: '10' }, { type: 'query', metatype: LimitQuery })).toEqual(
      Object.assign(new LimitQuery(), { limit: 10 }),
    );
  });

  it('still applies the DTO rules to well-formed text', async () => {
    expect(
      await refusal(pipe.transform({ name: '😀é‮x' }, { type: 'body', metatype: NameDto })),
    ).toBeUndefined();
    expect(
      await refusal(pipe.transform({ name: 'x'.repeat(11) }, { type: 'body', metatype: NameDto })),
    ).toEqual({
      kind: 'invalid',
      code: 'validation_failed',
      details: [{ field: 'name', reasons: ['name must be shorter than or equal to 10 characters'] }],
    });
  });
});

describe(PositiveIntParamPipe.name, () => {
  const pipe = new PositiveIntParamPipe();
  const param = { type: 'param' as const, data: 'version' };
  const attempt = (value: string) => refusal(Promise.resolve().then(() => pipe.transform(value, param)));

  it('parses whole numbers from 1 to the largest stored integer', () => {
    expect(pipe.transform('1', param)).toBe(1);
    expect(pipe.transform('2147483647', param)).toBe(2_147_483_647);
  });

  it.each([':', '0', '-1', '1.5', '1e3', '', ' 1', '2147483648', '99999999999'])(
    'refuses %j with a 400 naming the parameter',
    async (value) => {
      expect(await attempt(value)).toMatchObject({
        kind: 'invalid',
        code: 'validation_failed',
        details: [{ field: 'version' }],
      });
    },
  );
});
