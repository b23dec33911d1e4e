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
