/**
 * The domain events vendors may subscribe to, by type. Only these leave the platform: other
 * events on the same topics carry internal detail (key hashes, plan catalogs) that is nobody
 * else's business, so an endpoint subscribed to `*` still receives only these.
 */
export const DELIVERABLE_EVENT_TYPES = [
  'account.updated',
  'tenant.created',
  'tenant.updated',
  'tenant.suspended',
  'tenant.resumed',
  'tenant.deleted',
  'tenant.purged',
  'tenant.limits_changed',
  'tenant.features_changed',
  'quota.threshold_crossed',
  'subscription.changed',
  'invoice.drafted',
  'invoice.finalized',
  'invoice.paid',
  'invoice.payment_failed',
  'invoice.voided',
] as const;

export type DeliverableEventType = (typeof DELIVERABLE_EVENT_TYPES)[number];

/** Subscriptions one endpoint may list. */
export const MAX_EVENT_TYPES = 64;

const DELIVERABLE: ReadonlySet<string> = new Set(DELIVERABLE_EVENT_TYPES);

export const isDeliverable = (type: string): type is DeliverableEventType => DELIVERABLE.has(type);

/** Does one subscription entry (`*`, `invoice.*` or an exact type) cover `type`? */
function covers(entry: string, type: string): boolean {
  if (entry === '*') return true;
  if (entry.endsWith('.*')) return type.startsWith(entry.slice(0, -1));
  return entry === type;
}

/** Whether an endpoint subscribed to `subscriptions` receives an event of `type`. */
export function isSubscribed(subscriptions: readonly string[], type: string): boolean {
  return isDeliverable(type) && subscriptions.some((entry) => covers(entry, type));
}

/**
 * What is wrong with a list of subscriptions: each entry must be `*`, a deliverable type, or a
 * prefix wildcard (`invoice.*`) that covers at least one; no duplicates. Empty when valid.
 */
export function eventTypeProblems(subscriptions: readonly string[]): string[] {
  const problems: string[] = [];
  if (subscriptions.length === 0) problems.push('eventTypes must list at least one event type');
  if (subscriptions.length > MAX_EVENT_TYPES)
    problems.push(`eventTypes may list at most ${MAX_EVENT_TYPES} entries`);
  const seen = new Set<string>();
  for (const entry of subscriptions) {
    if (seen.has(entry)) problems.push(`${JSON.stringify(entry)} is listed twice`);
    seen.add(entry);
    if (!DELIVERABLE_EVENT_TYPES.some((type) => covers(entry, type)))
      problems.push(
        `${JSON.stringify(entry)} is not a deliverable event type (${DELIVERABLE_EVENT_TYPES.join(', ')}), "*" or a prefix like "invoice.*"`,
      );
  }
  return problems;
}
