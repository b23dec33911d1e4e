import { NotFoundException } from '@nestjs/common';
import { AppError } from '@metering/contracts';
import { toErrorResponse } from './http-error.filter';

describe(toErrorResponse.name, () => {
  it('maps an application error by its kind and keeps its code and details', () => {
    const result = toErrorResponse(new AppError('conflict', 'version_conflict', 'stale', { expected: 3 }));
    expect(result).toEqual({
      status: 409,
      body: { error: { code: 'version_conflict', message: 'stale', details: { expected: 3 } } },
      internal: false,
    });
  });

  it('answers 503 when the database cannot be reached, looking through wrapped errors', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const wrapped = Object.assign(new Error('query failed'), { driverError: refused });
    const sqlState = Object.assign(new Error('the database system is shutting down'), { code: '57P01' });
    for (const err of [
      refused,
      wrapped,
      sqlState,
      new Error('Connection terminated unexpectedly'),
      new Error('Query read timeout'),
      // A Postgres that accepts connections but never answers: pg-pool's connect timeout, and
      // its wait for a free client while every client waits for an answer.
      new Error('Connection terminated due to connection timeout'),
      new Error('timeout exceeded when trying to connect'),
      new Error('outer', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) }),
    ]) {
      expect(toErrorResponse(err)).toEqual({
        status: 503,
        body: { error: { code: 'dependency_unavailable', message: expect.any(String) as string } },
        internal: true,
      });
    }
  });

  it('keeps a query that the database refused as wrong (500), not unavailable', () => {
    const violation = Object.assign(new Error('duplicate key value'), { code: '23505' });
    expect(
      toErrorResponse(Object.assign(new Error('query failed'), { driverError: violation })),
    ).toMatchObject({
      status: 500,
      body: { error: { code: 'internal_error' } },
    });
  });

  it('maps body-parser failures to 400/413 with a stable code', () => {
    const tooLarge = Object.assign(new Error('request entity too large'), {
      type: 'entity.too.large',
      status: 413,
    });
    expect(toErrorResponse(tooLarge)).toMatchObject({
      status: 413,
      body: { error: { code: 'payload_too_large' } },
    });
    const malformed = Object.assign(new Error('bad json'), { type: 'entity.parse.failed', status: 400 });
    expect(toErrorResponse(malformed)).toMatchObject({
      status: 400,
      body: { error: { code: 'malformed_json' } },
    });
  });

  it('answers a body that does not inflate with 400, not 500', () => {
    // What body-parser passes on when `Content-Encoding: gzip` comes over bytes that are not gzip.
    const inflate = Object.assign(new Error('incorrect header check'), {
      code: 'Z_DATA_ERROR',
      status: 400,
      statusCode: 400,
      expose: true,
    });
    expect(toErrorResponse(inflate)).toEqual({
      status: 400,
      body: { error: { code: 'malformed_body', message: 'incorrect header check' } },
      internal: false,
    });
  });

  it('keeps framework HTTP errors in the same shape', () => {
    expect(toErrorResponse(new NotFoundException('no route'))).toMatchObject({
      status: 404,
      body: { error: { code: 'not_found', message: 'no route' } },
    });
  });

  it('hides the message of an unexpected error and flags it internal', () => {
    expect(toErrorResponse(new Error('password=hunter2'))).toEqual({
      status: 500,
      body: { error: { code: 'internal_error', message: 'internal error' } },
      internal: true,
    });
  });
});
