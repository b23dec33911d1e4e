import { createHash } from 'node:crypto';
import type { Actor, DomainEventEnvelope } from '@metering/contracts';
import { canonicalJson } from './canonical-json';

/** Version of the hashed form; a change to {@link canonicalEntry} needs a new one. */
export const ENTRY_FORMAT_VERSION = 1;

/** `prevHash` of an account's first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** What an audit entry says, before it is placed in its account's chain. */
export interface AuditDraft {
  eventId: string;
  /** When the action happened (the event's `occurredAt`), ISO 8601 UTC with milliseconds. */
  time: string;
  /** When the audit log recorded it, same format. */
  recordedAt: string;
  accountId: string;
  tenantId: string | null;
  actor: Actor;
  /** The event type, e.g. `tenant.suspended`. */
  action: string;
  target: { type: string; id: string; version: number };
  /** The change (the event's data) as canonical JSON text: the exact bytes that are hashed and stored. */
  changeJson: string;
  /** The service that emitted the event. */
  source: string;
  correlationId: string | null;
}

/** A draft placed in its account's chain: position, link to the previous entry, and its own hash. */
export interface ChainedEntry extends AuditDraft {
  seq: number;
  prevHash: string;
  hash: string;
}

/** Where an account's chain ends: the last entry's position and hash (0 and genesis when empty). */
export interface ChainHead {
  seq: number;
  hash: string;
}

export const EMPTY_HEAD: ChainHead = { seq: 0, hash: GENESIS_HASH };

const str = JSON.stringify;
const nullable = (v: string | null) => (v === null ? 'null' : str(v));

/**
 * The exact text an entry's hash is taken over: canonical JSON (RFC 8785) of
 * `{ accountId, action, actor, change, correlationId, eventId, prevHash, recordedAt, seq, source,
 * target, tenantId, time, v }` with `change` as the parsed change. Written out by hand (keys in
 * sorted order) so the change's stored canonical text is spliced in without parsing it again.
 */
export function canonicalEntry(e: Omit<ChainedEntry, 'hash'>): string {
  return (
    `{"accountId":${str(e.accountId)},"action":${str(e.action)},"actor":${canonicalJson(e.actor)}` +
    `,"change":${e.changeJson},"correlationId":${nullable(e.correlationId)},"eventId":${str(e.eventId)}` +
    `,"prevHash":${str(e.prevHash)},"recordedAt":${str(e.recordedAt)},"seq":${e.seq},"source":${str(e.source)}` +
    `,"target":${canonicalJson(e.target)},"tenantId":${nullable(e.tenantId)},"time":${str(e.time)}` +
    `,"v":${ENTRY_FORMAT_VERSION}}`
  );
}

/** sha256 of the entry's canonical form, lowercase hex. */
export function entryHash(e: Omit<ChainedEntry, 'hash'>): string {
  return createHash('sha256').update(canonicalEntry(e)).digest('hex');
}

/** Appends drafts after `head`, in order: each links to the one before. */
export function chainAfter(head: ChainHead, drafts: readonly AuditDraft[]): ChainedEntry[] {
  const out: ChainedEntry[] = [];
  let { seq, hash } = head;
  for (const draft of drafts) {
    const linked = { ...draft, seq: seq + 1, prevHash: hash };
    hash = entryHash(linked);
    seq = linked.seq;
    out.push({ ...linked, hash });
  }
  return out;
}

/** The audit draft of a validated domain event. */
export function draftOf(event: DomainEventEnvelope, recordedAt: Date): AuditDraft {
  return {
    // Postgres stores uuids in lower case; hash what will be read back.
    eventId: event.eventId.toLowerCase(),
    time: new Date(event.occurredAt).toISOString(),
    recordedAt: recordedAt.toISOString(),
    accountId: event.accountId,
    tenantId: event.tenantId ?? null,
    actor: { type: event.actor.type, id: event.actor.id },
    action: event.type,
    target: { type: event.aggregateType, id: event.aggregateId, version: event.aggregateVersion },
    changeJson: canonicalJson(event.data),
    source: event.source,
    correlationId: event.correlationId ?? null,
  };
}

/** Whether two drafts record the same event the same way (`recordedAt` aside): a redelivery, not a clash. */
export function sameEvent(a: AuditDraft, b: AuditDraft): boolean {
  return (
    a.eventId === b.eventId &&
    a.time === b.time &&
    a.accountId === b.accountId &&
    a.tenantId === b.tenantId &&
    a.actor.type === b.actor.type &&
    a.actor.id === b.actor.id &&
    a.action === b.action &&
    canonicalJson(a.target) === canonicalJson(b.target) &&
    a.changeJson === b.changeJson &&
    a.source === b.source &&
    a.correlationId === b.correlationId
  );
}
