import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import type { FieldError } from './errors';

/** Flattens class-validator errors into field paths with their reasons. */
export function flattenValidationErrors(errors: ValidationError[], prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    if (e.constraints) out.push({ field, reasons: Object.values(e.constraints) });
    if (e.children?.length) out.push(...flattenValidationErrors(e.children, field));
  }
  return out;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Validates an untrusted plain value against a contract class. Never throws for bad input. */
export function validateAs<T extends object>(cls: new () => T, input: unknown): Validated<T> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: [{ field: '$', reasons: ['must be a JSON object'] }] };
  }
  const value = plainToInstance(cls, input);
  const errors = validateSync(value, { forbidUnknownValues: true, stopAtFirstError: true });
  return errors.length ? { ok: false, errors: flattenValidationErrors(errors) } : { ok: true, value };
}
