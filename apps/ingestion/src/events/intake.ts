import { createHash } from 'node:crypto';
import { UsageCloudEvent, UsageEventRecord, validateAs } from '@metering/contracts';

export type EventOutcome =
  | { index: number; id: string | null; status: 'accepted' }
  | { index: number; id: string | null; status: 'duplicate' }
  | { index: number; id: string | null; status: 'conflict'; reasons: string[] }
  | { index: number; id: string | null; status: 'rejected'; reasons: string[] };

export interface IntakeResult {
  records: UsageEventRecord[];
  /** Per record: its idempotency key and payload hash, and which outcome it fills. */
  keys: { source: string; id: string; payloadHash: string; outcome: number }[];
  outcomes: EventOutcome[];
}

/** JSON with object keys sorted at every level, so equal payloads hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What "the same payload" means for a repeated id: type, subject, time and data. */
export function payloadHash(event: UsageCloudEvent): string {
  const { type, subject, time, data } = event;
  return createHash('sha256')
    .update(canonicalJson({ type, subject: subject ?? null, timeMs: Date.parse(time), data }))
    .digest('base64');
}

const idOf = (raw: unknown): string | null =>
  typeof raw === 'object' && raw !== null && typeof (raw as { id?: unknown }).id === 'string'
    ? (raw as { id: string }).id
    : null;

/**
 * Checks each event of a request on its own, for the tenant the API key belongs to: valid ones
 * become records for `usage.events.v1`,
 * invalid ones are named with their reasons, and a repeated id within the request is a
 * duplicate. One bad event never sinks the others.
 */
export interface LatenessWindow {
  /** Oldest accepted event time, as a distance before receipt. */
  maxLatenessMs: number;
  /** Newest accepted event time, as a distance after receipt (clock skew). */
  maxFutureMs: number;
}

/** Why an event's time is outside the window, or undefined when it is inside. */
export function outsideWindow(
  timeMs: number,
  receivedAtMs: number,
  window: LatenessWindow,
): string | undefined {
  if (timeMs < receivedAtMs - window.maxLatenessMs) {
    return `time: older than the lateness window (${Math.round(window.maxLatenessMs / 86_400_000)} days before receipt)`;
  }
  if (timeMs > receivedAtMs + window.maxFutureMs) {
    return `time: more than ${Math.round(window.maxFutureMs / 1000)} s in the future`;
  }
  return undefined;
}

export function checkEvents(
  events: readonly unknown[],
  tenant: { tenantId: string; accountId: string },
  receivedAtMs: number,
  window?: LatenessWindow,
): IntakeResult {
  const records: UsageEventRecord[] = [];
  const keys: IntakeResult['keys'] = [];
  const outcomes: EventOutcome[] = [];
  const seen = new Map<string, string>();
  events.forEach((raw, index) => {
    const id = idOf(raw);
    const checked = validateAs(UsageCloudEvent, raw);
    if (!checked.ok) {
      outcomes.push({
        index,
        id,
        status: 'rejected',
        reasons: checked.errors.map((e) => `${e.field}: ${e.reasons.join('; ')}`),
      });
      return;
    }
    const event = checked.value;
    if (event.tenantid !== undefined && event.tenantid !== tenant.tenantId) {
      outcomes.push({
        index,
        id,
        status: 'rejected',
        reasons: ['tenantid: does not match the API key’s tenant'],
      });
      return;
    }
    const late = window && outsideWindow(Date.parse(event.time), receivedAtMs, window);
    if (late) {
      outcomes.push({ index, id, status: 'rejected', reasons: [late] });
      return;
    }
    const key = `${event.source}\u0000${event.id}`;
    const hash = payloadHash(event);
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      outcomes.push(
        earlier === hash
          ? { index, id, status: 'duplicate' }
          : {
              index,
              id,
              status: 'conflict',
              reasons: ['id: already used in this request for a different payload'],
            },
      );
      return;
    }
    seen.set(key, hash);
    records.push(
      Object.assign(new UsageEventRecord(), {
        id: event.id,
        tenantId: tenant.tenantId,
        accountId: tenant.accountId,
        source: event.source,
        type: event.type,
        subject: event.subject,
        timeMs: Date.parse(event.time),
        data: event.data,
        receivedAtMs,
      }),
    );
    keys.push({ source: event.source, id: event.id, payloadHash: hash, outcome: outcomes.length });
    outcomes.push({ index, id, status: 'accepted' });
  });
  return { records, keys, outcomes };
}
