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

/** Deepest nesting of objects and arrays accepted from outside. */
export const MAX_INPUT_DEPTH = 32;

/** Most problems one refusal lists, so a hostile request cannot make the answer huge. */
const MAX_PROBLEMS = 20;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why a text cannot be stored and read back exactly as sent, if it cannot: NUL, which Postgres
 * refuses in text and jsonb, and unpaired UTF-16 surrogates, which have no UTF-8 form (Postgres
 * jsonb and ClickHouse refuse them; a text column would store a replacement character instead).
 */
export function unstorableText(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain NUL (\\u0000) characters';
  if (LONE_SURROGATE.test(text)) return 'must be well-formed Unicode (it has an unpaired surrogate)';
  return undefined;
}

/**
 * Every place in an untrusted value (request body, query or path parameter) that no service can
 * take as sent: a string or property name {@link unstorableText} refuses, or nesting deeper than
 * {@link MAX_INPUT_DEPTH} (recursive walkers downstream would overflow the stack). Walks without
 * recursion, so any depth is safe to inspect. Fields are named by their path (`tenants.0.name`).
 */
export function unstorableInput(value: unknown, root = ''): FieldError[] {
  const problems: FieldError[] = [];
  // Paths are built only for the places that have a problem: most input has none.
  const pending: Place[] = [{ value, key: root, parent: undefined, depth: 0 }];
  while (pending.length && problems.length < MAX_PROBLEMS) {
    const place = pending.pop()!;
    const v = place.value;
    if (typeof v === 'string') {
      const reason = unstorableText(v);
      if (reason) problems.push({ field: pathOf(place) || '$', reasons: [reason] });
      continue;
    }
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) continue;
    if (place.depth >= MAX_INPUT_DEPTH) {
      problems.push({
        field: pathOf(place) || '$',
        reasons: [`must not be nested deeper than ${MAX_INPUT_DEPTH} levels`],
      });
      continue;
    }
    const entries: [string, unknown][] = Object.entries(v);
    // Reversed onto the stack, so problems come out in document order.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i];
      const childPlace = { value: child, key, parent: place, depth: place.depth + 1 };
      const keyReason = unstorableText(key);
      if (keyReason) problems.push({ field: pathOf(childPlace), reasons: [`its name ${keyReason}`] });
      pending.push(childPlace);
    }
  }
  return problems;
}

/** A value inside the input: its key in its parent (the root's: the root path). */
interface Place {
  value: unknown;
  key: string;
  parent: Place | undefined;
  depth: number;
}

/** `tenants.0.name`: the keys from the root down, joined with dots (the root path first, if any). */
function pathOf(place: Place): string {
  const keys: string[] = [];
  for (let p: Place | undefined = place; p; p = p.parent) keys.push(p.key);
  let path = '';
  for (let i = keys.length - 1; i >= 0; i--) path = path ? `${path}.${keys[i]}` : keys[i];
  return path;
}
