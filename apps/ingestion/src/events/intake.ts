import { UsageCloudEvent, UsageEventRecord, validateAs } from '@metering/contracts';

export type EventOutcome =
  | { index: number; id: string | null; status: 'accepted' }
  | { index: number; id: string | null; status: 'duplicate' }
  | { index: number; id: string | null; status: 'rejected'; reasons: string[] };

export interface IntakeResult {
  records: UsageEventRecord[];
  outcomes: EventOutcome[];
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
export function checkEvents(
  events: readonly unknown[],
  tenant: { tenantId: string; accountId: string },
  receivedAtMs: number,
): IntakeResult {
  const records: UsageEventRecord[] = [];
  const outcomes: EventOutcome[] = [];
  const seen = new Set<string>();
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
    const key = `${event.source}\u0000${event.id}`;
    if (seen.has(key)) {
      outcomes.push({ index, id, status: 'duplicate' });
      return;
    }
    seen.add(key);
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
    outcomes.push({ index, id, status: 'accepted' });
  });
  return { records, outcomes };
}
