import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { AppError, type ErrorBody, type ErrorKind } from '@metering/contracts';
import type { Logger } from '@metering/observability';

export const HTTP_STATUS_OF_KIND: Record<ErrorKind, number> = {
  invalid: HttpStatus.BAD_REQUEST,
  unauthenticated: HttpStatus.UNAUTHORIZED,
  forbidden: HttpStatus.FORBIDDEN,
  not_found: HttpStatus.NOT_FOUND,
  conflict: HttpStatus.CONFLICT,
  too_large: HttpStatus.PAYLOAD_TOO_LARGE,
  unsupported: HttpStatus.UNSUPPORTED_MEDIA_TYPE,
  rate_limited: HttpStatus.TOO_MANY_REQUESTS,
  unavailable: HttpStatus.SERVICE_UNAVAILABLE,
};

/** Errors raised by body parsing before Nest sees the request (express' http-errors). */
interface BodyParserError {
  type?: string;
  status?: number;
  expose?: boolean;
  message: string;
}

/**
 * body-parser's own errors carry a `type`; a body that fails to inflate (`Content-Encoding: gzip`
 * over bytes that are not gzip) comes as zlib's error made a client error (`expose`, 4xx) instead.
 */
const isBodyParserError = (err: unknown): err is BodyParserError =>
  typeof err === 'object' &&
  err !== null &&
  typeof (err as BodyParserError).status === 'number' &&
  (typeof (err as BodyParserError).type === 'string' || (err as BodyParserError).expose === true);

const BODY_ERROR_CODES: Record<string, string> = {
  'entity.parse.failed': 'malformed_json',
  'entity.too.large': 'payload_too_large',
  'encoding.unsupported': 'unsupported_encoding',
  'charset.unsupported': 'unsupported_charset',
  'request.aborted': 'request_aborted',
};

/** Socket errors: the peer (a database, a broker) refused, dropped or never answered. */
const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);
/**
 * Postgres SQLSTATEs of a server that cannot serve now: class 08 (connection exception), shutdown
 * (57P01–57P03) and too many connections (53300).
 */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123]|53300)$/;
/** node-postgres' own messages for a connection lost, never made, or silent past its timeout. */
const PG_CONNECTION_MESSAGES =
  /Connection terminated|Query read timeout|timeout exceeded when trying to connect/;

/**
 * Whether an error says a store the service depends on cannot be reached right now (so the
 * request may succeed later), rather than that the request or the code was wrong. Looks through
 * TypeORM's `driverError` and `cause`.
 */
export function isDependencyUnavailable(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 3) return false;
  const { code, message, driverError, cause } = err as {
    code?: unknown;
    message?: unknown;
    driverError?: unknown;
    cause?: unknown;
  };
  if (typeof code === 'string' && (CONNECTION_ERRNOS.has(code) || UNAVAILABLE_SQLSTATE.test(code)))
    return true;
  if (typeof message === 'string' && PG_CONNECTION_MESSAGES.test(message)) return true;
  return isDependencyUnavailable(driverError, depth + 1) || isDependencyUnavailable(cause, depth + 1);
}

/** Maps every error to `{ error: { code, message, details } }` with the right status, once. */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody; internal: boolean } {
  if (err instanceof AppError) {
    return {
      status: HTTP_STATUS_OF_KIND[err.kind],
      body: { error: { code: err.code, message: err.message, details: err.details } },
      internal: false,
    };
  }
  if (isBodyParserError(err)) {
    const status = err.status ?? 400;
    const code = err.type === undefined ? 'malformed_body' : (BODY_ERROR_CODES[err.type] ?? 'bad_request');
    return { status, body: { error: { code, message: err.message } }, internal: status >= 500 };
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const response = err.getResponse();
    const message = typeof response === 'string' ? response : err.message;
    const code = HttpStatus[status]?.toLowerCase() ?? 'error';
    return { status, body: { error: { code, message } }, internal: status >= 500 };
  }
  if (isDependencyUnavailable(err)) {
    return {
      status: HttpStatus.SERVICE_UNAVAILABLE,
      body: {
        error: {
          code: 'dependency_unavailable',
          message: 'a store this service depends on cannot be reached right now; retry',
        },
      },
      internal: true,
    };
  }
  return {
    status: HttpStatus.INTERNAL_SERVER_ERROR,
    body: { error: { code: 'internal_error', message: 'internal error' } },
    internal: true,
  };
}

const RETRY_AFTER_SECONDS = 1;

/** Seconds a client should wait: the error's own `details.retryAfterSeconds`, else one second. */
function retryAfterOf(err: unknown): number {
  const details =
    err instanceof AppError ? (err.details as { retryAfterSeconds?: unknown } | undefined) : undefined;
  const seconds = details?.retryAfterSeconds;
  return typeof seconds === 'number' && seconds > 0 ? Math.ceil(seconds) : RETRY_AFTER_SECONDS;
}

/** Writes `body` as the whole JSON answer, with plain `node:http` calls (no framework needed). */
export function answerJson(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

/**
 * Answers a failed request in the services' error shape — `Retry-After` where the client should
 * back off — and logs errors that are the service's own. Used by the exception filter, by the
 * middleware that runs before Nest, and by routes answered before express.
 */
export function answerError(res: ServerResponse, err: unknown, logger?: Logger): void {
  const { status, body, internal } = toErrorResponse(err);
  if (internal) logger?.error({ err }, 'request failed');
  if (res.headersSent) return;
  // Clients (and the producer SDK) back off on these instead of hammering.
  if (status === 503 || status === 429) res.setHeader('Retry-After', String(retryAfterOf(err)));
  answerJson(res, status, body);
}

@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(err: unknown, host: ArgumentsHost): void {
    answerError(host.switchToHttp().getResponse<ServerResponse>(), err, this.logger);
  }
}
