/**
 * The one way to put values and identifiers into ClickHouse SQL. ClickHouse 18.16 has no
 * server-side query parameters, so every value is rendered as an escaped literal here.
 */

export type SqlValue = string | number | bigint | boolean | null | readonly SqlValue[];

/** A piece of SQL that is already safe: rendered verbatim when embedded with `sql`. */
export class SqlFragment {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class UnsafeSqlValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeSqlValueError';
  }
}

/** A single-quoted string literal. Backslash, quote and every control character are escaped. */
export function quoteString(value: string): string {
  let out = "'";
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code >= 0xd800 && code <= 0xdfff)
      throw new UnsafeSqlValueError('string contains a lone UTF-16 surrogate');
    else out += ch;
  }
  return `${out}'`;
}

/** A backquoted identifier; only plain names are allowed, so nothing needs escaping. */
export function quoteIdentifier(name: string): string {
  if (!IDENTIFIER.test(name))
    throw new UnsafeSqlValueError(`not a valid identifier: ${JSON.stringify(name)}`);
  return `\`${name}\``;
}

export function literal(value: SqlValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'string') return quoteString(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new UnsafeSqlValueError(`not a finite number: ${value}`);
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
      throw new UnsafeSqlValueError(`integer ${value} is not exact in a double; pass a bigint`);
    }
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map((v: SqlValue) => literal(v)).join(', ')}]`;
  throw new UnsafeSqlValueError(`unsupported value type: ${typeof value}`);
}

/** An identifier to embed with `sql`. */
export function ident(name: string): SqlFragment {
  return new SqlFragment(quoteIdentifier(name));
}

/** Raw SQL text chosen by code (never by input), to embed with `sql`. */
export function raw(text: string): SqlFragment {
  return new SqlFragment(text);
}

/**
 * Tagged template that renders embedded values as literals and embedded fragments verbatim:
 * sql`SELECT count() FROM ${ident(table)} WHERE tenant_id = ${tenantId}`.
 */
export function sql(strings: TemplateStringsArray, ...values: (SqlValue | SqlFragment)[]): SqlFragment {
  let text = strings[0] ?? '';
  values.forEach((value, i) => {
    text += value instanceof SqlFragment ? value.text : literal(value);
    text += strings[i + 1] ?? '';
  });
  return new SqlFragment(text);
}

/** Joins fragments with a separator (e.g. ' AND '). */
export function joinSql(parts: SqlFragment[], separator: string): SqlFragment {
  return new SqlFragment(parts.map((p) => p.text).join(separator));
}
