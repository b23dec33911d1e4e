/** The one error body every REST endpoint returns (ARCHITECTURE.md §7). */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** One field that failed validation, named by its path (`events[3].time`). */
export interface FieldError {
  field: string;
  reasons: string[];
}
