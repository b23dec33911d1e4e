import { invalidField } from '@metering/contracts';

/** Which entries a list or export selects; every field narrows. */
export interface AuditFilter {
  accountId?: string;
  tenantId?: string;
  /** The actor's id (management key, API key, service). */
  actorId?: string;
  actorType?: string;
  /** Entries whose action starts with this, e.g. `tenant.` */
  actionPrefix?: string;
  /** Inclusive start of the action time, epoch ms. */
  fromMs?: number;
  /** Exclusive end of the action time, epoch ms. */
  toMs?: number;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

const invalid = (field: string, message: string) => invalidField(field, [message]);

/** Checks what single-field validation cannot: the range is not empty. */
export function checkFilter(filter: AuditFilter): AuditFilter {
  if (filter.fromMs !== undefined && filter.toMs !== undefined && filter.toMs <= filter.fromMs)
    throw invalid('to', '`to` must be after `from`');
  return filter;
}

/**
 * Pages go newest first; a cursor says "entries older than this one". It is opaque to clients
 * (base64url) and carries the global position of the last entry served.
 */
export function encodeCursor(lastId: string): string {
  return Buffer.from(`a1:${lastId}`).toString('base64url');
}

/** The position a cursor stands for; a 400 naming `cursor` when it is not one this service made. */
export function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^a1:([1-9][0-9]{0,18})$/.exec(text);
  if (!m || BigInt(m[1]) > 9_223_372_036_854_775_807n) throw invalid('cursor', 'not a cursor from this API');
  return m[1];
}

/** A LIKE pattern matching values that start with `prefix` literally. */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
