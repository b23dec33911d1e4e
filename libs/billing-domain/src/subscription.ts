import { BillingCalendar, type BillingPeriod } from '@metering/billing-math';
import { BillingError, BillingErrorCode } from './errors';

/** From `effectiveFromMs` on (until the next phase), the account is billed on this plan version. */
export interface SubscriptionPhase {
  effectiveFromMs: number;
  planId: string;
  planVersion: number;
}

/** An account's subscription: its billing calendar and the plan versions it moves through. */
export interface Subscription {
  id: string;
  accountId: string;
  currency: string;
  anchorDay: number;
  timezone: string;
  startMs: number;
  /** Sorted by `effectiveFromMs`; the first starts at `startMs`. */
  phases: SubscriptionPhase[];
  /** Where the subscription ends (a tenant's own plan, back in the pool from then on); none: it lasts. */
  endMs?: number | null;
}

/** When a plan change takes effect: at the end of the current period (default) or at once, prorated. */
export const CHANGE_TIMINGS = ['next-period', 'now'] as const;
export type ChangeTiming = (typeof CHANGE_TIMINGS)[number];

export const DEFAULT_ANCHOR_DAY = 1;
export const DEFAULT_TIMEZONE = 'UTC';

export interface SubscribeCommand {
  accountId: string;
  /** Fresh id for a new subscription. */
  newId: string;
  planId: string;
  planVersion: number;
  /** Currency of the plan version. */
  currency: string;
  startAtMs?: number;
  anchorDay?: number;
  timezone?: string;
  timing?: ChangeTiming;
  nowMs: number;
}

export interface SubscribeDecision {
  subscription: Subscription;
  /** The phase this command added; none when the subscription already was on that plan version. */
  added?: SubscriptionPhase;
}

export function calendarOf(s: Pick<Subscription, 'anchorDay' | 'timezone'>): BillingCalendar {
  return new BillingCalendar({ anchorDay: s.anchorDay, timeZone: s.timezone });
}

/** The calendar of a new subscription; a bad anchor day or zone is an error naming its field. */
export function calendarFor(anchorDay: number, timezone: string): BillingCalendar {
  try {
    return new BillingCalendar({ anchorDay, timeZone: timezone });
  } catch (err) {
    const field = (err as { code?: string }).code === 'invalid_anchor_day' ? 'anchorDay' : 'timezone';
    throw new BillingError(
      BillingErrorCode.INVALID_SUBSCRIPTION,
      `invalid ${field}: ${(err as Error).message}`,
      [{ field, reasons: [(err as Error).message] }],
    );
  }
}

/** A subscription error naming the request field that caused it. */
export const invalid = (field: string, reason: string, code = BillingErrorCode.INVALID_SUBSCRIPTION) =>
  new BillingError(code, `${field}: ${reason}`, [{ field, reasons: [reason] }]);

/**
 * A plan change of an existing subscription keeps its calendar (anchor day, time zone) and its
 * currency; a request naming others is refused, naming the field.
 */
export function checkPlanChange(
  current: Pick<Subscription, 'anchorDay' | 'timezone' | 'currency'>,
  cmd: { anchorDay?: number; timezone?: string; currency: string },
): void {
  for (const field of ['anchorDay', 'timezone'] as const) {
    if (cmd[field] !== undefined && cmd[field] !== current[field]) {
      throw invalid(
        field,
        'the billing calendar of a subscription does not change',
        BillingErrorCode.CALENDAR_IMMUTABLE,
      );
    }
  }
  if (cmd.currency !== current.currency) {
    throw invalid(
      'planVersion',
      `the plan version bills in ${cmd.currency}, the subscription in ${current.currency}`,
      BillingErrorCode.CURRENCY_CHANGE,
    );
  }
}

/** Whether the subscription's last phase already is that plan version. */
export function isOnPlan(current: Subscription, plan: { planId: string; planVersion: number }): boolean {
  const last = current.phases[current.phases.length - 1];
  return last.planId === plan.planId && last.planVersion === plan.planVersion;
}

/**
 * Subscribes an account to a plan version, or moves it to another one. A new subscription starts
 * at `startAtMs` (default now) on the given calendar (default anchor day 1, UTC). A change takes
 * effect at the end of the current period by default, or at once (`now`, base fees prorated);
 * it replaces changes not yet in effect. The calendar and the currency never change.
 */
export function decideSubscription(
  current: Subscription | undefined,
  cmd: SubscribeCommand,
): SubscribeDecision {
  const phase = (effectiveFromMs: number): SubscriptionPhase => ({
    effectiveFromMs,
    planId: cmd.planId,
    planVersion: cmd.planVersion,
  });
  if (!current) {
    const anchorDay = cmd.anchorDay ?? DEFAULT_ANCHOR_DAY;
    const timezone = cmd.timezone ?? DEFAULT_TIMEZONE;
    const calendar = calendarFor(anchorDay, timezone);
    const startMs = cmd.startAtMs ?? cmd.nowMs;
    try {
      calendar.periodAt(startMs);
    } catch (err) {
      throw invalid('startAt', (err as Error).message);
    }
    const first = phase(startMs);
    return {
      subscription: {
        id: cmd.newId,
        accountId: cmd.accountId,
        currency: cmd.currency,
        anchorDay,
        timezone,
        startMs,
        phases: [first],
      },
      added: first,
    };
  }
  checkPlanChange(current, cmd);
  if (cmd.startAtMs !== undefined && cmd.startAtMs !== current.startMs) {
    throw invalid(
      'startAt',
      'a subscription keeps its start; a change takes effect per `effective`',
      BillingErrorCode.CALENDAR_IMMUTABLE,
    );
  }
  if (isOnPlan(current, cmd)) return { subscription: current };
  const calendar = calendarOf(current);
  const effectiveFromMs =
    cmd.nowMs < current.startMs
      ? current.startMs
      : (cmd.timing ?? 'next-period') === 'now'
        ? cmd.nowMs
        : calendar.periodAt(cmd.nowMs).endMs;
  const added = phase(effectiveFromMs);
  const kept = current.phases.filter((p) => p.effectiveFromMs < effectiveFromMs);
  return { subscription: { ...current, phases: [...kept, added] }, added };
}

/** A phase clipped to a period: `[fromMs, toMs)` within it. */
export interface PhaseInPeriod extends SubscriptionPhase {
  fromMs: number;
  toMs: number;
}

/**
 * The phases in force during the period, clipped to it (and to the subscription's end), in order;
 * empty before the subscription starts and after it ended.
 */
export function phasesIn(
  subscription: Subscription,
  period: Pick<BillingPeriod, 'startMs' | 'endMs'>,
): PhaseInPeriod[] {
  const result: PhaseInPeriod[] = [];
  const endMs = subscription.endMs ?? Number.POSITIVE_INFINITY;
  subscription.phases.forEach((p, i) => {
    const next = subscription.phases[i + 1]?.effectiveFromMs ?? Number.POSITIVE_INFINITY;
    const fromMs = Math.max(p.effectiveFromMs, period.startMs);
    const toMs = Math.min(next, period.endMs, endMs);
    if (fromMs < toMs) result.push({ ...p, fromMs, toMs });
  });
  return result;
}

/** The phase in force at an instant, if the subscription has started by then. */
export function phaseAt(subscription: Subscription, atMs: number): SubscriptionPhase | undefined {
  return [...subscription.phases].reverse().find((p) => p.effectiveFromMs <= atMs);
}

/** The periods that ended by `asOfMs` since the subscription started (until it ended), oldest first. */
export function endedPeriods(subscription: Subscription, asOfMs: number): BillingPeriod[] {
  return calendarOf(subscription)
    .periodsBetween(subscription.startMs, Math.min(asOfMs, subscription.endMs ?? Number.POSITIVE_INFINITY))
    .filter((p) => p.endMs <= asOfMs);
}

/** The span the subscription bills, `[startMs, endMs)`. */
export const subscriptionSpan = (s: Subscription) => ({
  fromMs: s.startMs,
  toMs: s.endMs ?? Number.POSITIVE_INFINITY,
});
