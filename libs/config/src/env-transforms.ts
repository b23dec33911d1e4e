import { Transform } from 'class-transformer';

/** `true/false/1/0/yes/no` → boolean; anything else is left for validation to refuse. */
export function EnvBoolean(): PropertyDecorator {
  return Transform(({ value }: { value: unknown }) => {
    if (typeof value === 'boolean') return value;
    const v = String(value).toLowerCase();
    if (['true', '1', 'yes'].includes(v)) return true;
    if (['false', '0', 'no'].includes(v)) return false;
    return value;
  });
}

/** Comma-separated list → trimmed, non-empty strings. */
export function EnvList(): PropertyDecorator {
  return Transform(({ value }: { value: unknown }) =>
    typeof value === 'string'
      ? value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : value,
  );
}
