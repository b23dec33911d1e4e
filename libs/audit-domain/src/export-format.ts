import type { ChainedEntry } from './audit-entry';

/** An entry as stored, with its global position (what lists and exports page by). */
export interface StoredEntry extends ChainedEntry {
  id: string;
}

/** An entry as the API shows it: the change as JSON, not as text. */
export type AuditEntryView = Omit<StoredEntry, 'changeJson'> & { change: unknown };

export function toView(entry: StoredEntry): AuditEntryView {
  const { changeJson, ...rest } = entry;
  return { ...rest, change: JSON.parse(changeJson) as unknown };
}

const str = JSON.stringify;
const nullable = (v: string | null) => (v === null ? 'null' : str(v));

/**
 * One NDJSON line (with its newline): the view's JSON, the change spliced in as stored. Each
 * line carries everything its hash covers, so an export can be verified offline.
 */
export function toNdjsonLine(e: StoredEntry): string {
  return (
    `{"id":${str(e.id)},"accountId":${str(e.accountId)},"seq":${e.seq},"eventId":${str(e.eventId)}` +
    `,"time":${str(e.time)},"recordedAt":${str(e.recordedAt)},"tenantId":${nullable(e.tenantId)}` +
    `,"actor":${str(e.actor)},"action":${str(e.action)},"target":${str(e.target)},"change":${e.changeJson}` +
    `,"source":${str(e.source)},"correlationId":${nullable(e.correlationId)}` +
    `,"prevHash":${str(e.prevHash)},"hash":${str(e.hash)}}\n`
  );
}

export const CSV_COLUMNS = [
  'id',
  'account_id',
  'seq',
  'event_id',
  'time',
  'recorded_at',
  'tenant_id',
  'actor_type',
  'actor_id',
  'action',
  'target_type',
  'target_id',
  'target_version',
  'change',
  'source',
  'correlation_id',
  'prev_hash',
  'hash',
] as const;

export const CSV_HEADER = `${CSV_COLUMNS.join(',')}\r\n`;

/**
 * RFC 4180 field. A field a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets
 * a leading apostrophe: CSV is for people; NDJSON is the exact, verifiable form.
 */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsvLine(e: StoredEntry): string {
  return `${[
    e.id,
    e.accountId,
    e.seq,
    e.eventId,
    e.time,
    e.recordedAt,
    e.tenantId,
    e.actor.type,
    e.actor.id,
    e.action,
    e.target.type,
    e.target.id,
    e.target.version,
    e.changeJson,
    e.source,
    e.correlationId,
    e.prevHash,
    e.hash,
  ]
    .map(csvField)
    .join(',')}\r\n`;
}
