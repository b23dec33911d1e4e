/** The one error body every REST endpoint returns (ARCHITECTURE.md §7). */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** One field that failed validation, named by its path (`events[3].time`). */
export interface FieldError {
  field: string;
  reasons: string[];
}

/** What went wrong, independent of transport; each edge (HTTP, gRPC, Kafka) maps it once. */
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'unsupported'
  | 'rate_limited'
  | 'unavailable';

/**
 * Base of every domain and application error: a stable machine code (e.g. `tenant_suspended`),
 * a kind for transport mapping, and optional details. Never an HTTP exception.
 */
export class AppError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A 400 naming each field that failed and why (the shape DTO validation answers with). */
export function validationFailed(details: FieldError[]): AppError {
  return new AppError(
    'invalid',
    'validation_failed',
    `invalid ${details.map((d) => d.field).join(', ')}`,
    details,
  );
}

/** A request field that is well-formed but not acceptable: a 400 naming it, like DTO validation. */
export function invalidField(field: string, reasons: string[]): AppError {
  return new AppError('invalid', 'validation_failed', `invalid ${field}: ${reasons.join('; ')}`, [
    { field, reasons },
  ]);
}

/** The largest value a Postgres `integer` column (versions, counters) holds. */
export const MAX_INT32 = 2_147_483_647;
