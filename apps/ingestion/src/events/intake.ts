import { hash } from 'node:crypto';
import { checkUsageCloudEvent, type UsageCloudEvent, type UsageEventRecord } from '@metering/contracts';
import type { MeterCatalog } from '@metering/meters';

export type EventOutcome =
  | { index: number; id: string | null; status: 'accepted' }
  | { index: number; id: string | null; status: 'duplicate' }
  | { index: number; id: string | null; status: 'conflict'; reasons: string[] }
  | { index: number; id: string | null; status: 'rejected'; reasons: string[] };

export interface IntakeResult {
  records: UsageEventRecord[];
  /** Per record: its idempotency key and payload hash, and which outcome it fills. */
  keys: { source: string; id: string; payloadHash: Buffer; outcome: number; size: number }[];
  outcomes: EventOutcome[];
}

export interface IntakeRules {
  catalog: MeterCatalog;
  /** Oldest accepted event time, as a distance before receipt. */
  maxLatenessMs: number;
  /** Newest accepted event time, as a distance after receipt (clock skew). */
  maxFutureMs: number;
  /** Largest `data` of one event, in characters of its JSON. */
  maxDataChars: number;
  /**
   * End of the account's latest finalized billing period, if any: an event before it is refused
   * by meters whose late-event policy is `reject` (the others bill it as a prior-period adjustment).
   */
  closedThroughMs?: number;
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
export function payloadHash(event: UsageCloudEvent, timeMs: number, data: string): Buffer {
  return hash('sha256', `${event.type}\n${event.subject ?? ''}\n${timeMs}\n${data}`, 'buffer');
}

/** Why an event's time is outside the window, or undefined when it is inside. */
export function outsideWindow(
  timeMs: number,
  receivedAtMs: number,
  rules: Pick<IntakeRules, 'maxLatenessMs' | 'maxFutureMs'>,
): string | undefined {
  if (timeMs < receivedAtMs - rules.maxLatenessMs) {
    return `time: older than the lateness window (${Math.round(rules.maxLatenessMs / 86_400_000)} days before receipt)`;
  }
  if (timeMs > receivedAtMs + rules.maxFutureMs) {
    return `time: more than ${Math.round(rules.maxFutureMs / 1000)} s in the future`;
  }
  return undefined;
}

const idOf = (raw: unknown): string | null =>
  typeof raw === 'object' && raw !== null && typeof (raw as { id?: unknown }).id === 'string'
    ? (raw as { id: string }).id
    : null;

/** Every reason the event cannot be accepted for this tenant; empty when it can. */
function problemsOf(
  event: UsageCloudEvent,
  tenantId: string,
  timeMs: number,
  data: string,
  receivedAtMs: number,
  rules: IntakeRules,
): string[] {
  const problems: string[] = [];
  if (event.tenantid !== undefined && event.tenantid !== null && event.tenantid !== tenantId) {
    problems.push('tenantid: does not match the tenant of the credentials');
  }
  if (data.length > rules.maxDataChars) {
    problems.push(`data: larger than ${rules.maxDataChars} characters of JSON`);
  }
  const late = outsideWindow(timeMs, receivedAtMs, rules);
  if (late) problems.push(late);
  problems.push(...rules.catalog.problems(event));
  if (rules.closedThroughMs !== undefined && timeMs < rules.closedThroughMs) {
    for (const meter of rules.catalog.metersFor(event.type)) {
      if (meter.lateEvents !== 'reject') continue;
      problems.push(
        `period_closed: time is in a period invoiced for good (up to ${new Date(rules.closedThroughMs).toISOString()}); meter ${meter.key} refuses late events`,
      );
    }
  }
  return problems;
}

/**
 * Checks each event of a request on its own, for the tenant the credentials belong to: valid
 * ones become records for `usage.events.v1`, invalid ones are named with their reasons, and a
 * repeated id within the request is a duplicate (or a conflict, if its payload differs). One bad
 * event never sinks the others.
 */
export function checkEvents(
  events: readonly unknown[],
  tenant: { tenantId: string; accountId: string },
  receivedAtMs: number,
  rules: IntakeRules,
): IntakeResult {
  const records: UsageEventRecord[] = [];
  const keys: IntakeResult['keys'] = [];
  const outcomes: EventOutcome[] = [];
  const seen = new Map<string, Buffer>();
  events.forEach((raw, index) => {
    const id = idOf(raw);
    const checked = checkUsageCloudEvent(raw);
    if (!checked.ok) {
      const reasons = checked.errors.map((e) => `${e.field}: ${e.reasons.join('; ')}`);
      outcomes.push({ index, id, status: 'rejected', reasons });
      return;
    }
    const event = checked.value;
    const timeMs = Date.parse(event.time);
    const data = canonicalJson(event.data);
    const problems = problemsOf(event, tenant.tenantId, timeMs, data, receivedAtMs, rules);
    if (problems.length) {
      outcomes.push({ index, id, status: 'rejected', reasons: problems });
      return;
    }
    const key = `${event.source}\u0000${event.id}`;
    const digest = payloadHash(event, timeMs, data);
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      outcomes.push(
        earlier.equals(digest)
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
    seen.set(key, digest);
    const record: UsageEventRecord = {
      id: event.id,
      tenantId: tenant.tenantId,
      accountId: tenant.accountId,
      source: event.source,
      type: event.type,
      timeMs,
      data: event.data,
      receivedAtMs,
    };
    if (event.subject !== undefined && event.subject !== null) record.subject = event.subject;
    records.push(record);
    // Rough JSON size of the record, to keep packed messages under the broker's message limit.
    const size = 200 + key.length + event.type.length + (event.subject?.length ?? 0) + data.length;
    keys.push({ source: event.source, id: event.id, payloadHash: digest, outcome: outcomes.length, size });
    outcomes.push({ index, id, status: 'accepted' });
  });
  return { records, keys, outcomes };
}
