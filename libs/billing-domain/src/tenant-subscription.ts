import type { OwnPlanSpan } from '@metering/billing-math';
import { BillingErrorCode } from './errors';
import {
  calendarFor,
  calendarOf,
  checkPlanChange,
  invalid,
  isOnPlan,
  subscriptionSpan,
  type ChangeTiming,
  type Subscription,
  type SubscriptionPhase,
} from './subscription';

/** Whose Stripe customer a tenant's own invoices go to: the account's (separate invoices) or its own. */
export const STRIPE_CUSTOMER_CHOICES = ['account', 'tenant'] as const;
export type StripeCustomerChoice = (typeof STRIPE_CUSTOMER_CHOICES)[number];

export const BILLING_MODES = ['pooled', 'tenant'] as const;
export type BillingModeName = (typeof BILLING_MODES)[number];

/**
 * A tenant billed on its own plan from `startMs` until `endMs` (open while it lasts), with its own
 * calendar and invoices; before and after, the tenant is pooled in its account. A tenant's
 * subscriptions never overlap: together they are its history of modes.
 */
export interface TenantSubscription extends Subscription {
  tenantId: string;
  endMs: number | null;
  stripeCustomer: StripeCustomerChoice;
}

export type TenantBillingCommand =
  | {
      kind: 'own-plan';
      accountId: string;
      tenantId: string;
      /** Fresh id for a new subscription. */
      newId: string;
      planId: string;
      planVersion: number;
      /** Currency of the plan version. */
      currency: string;
      anchorDay?: number;
      timezone?: string;
      stripeCustomer?: StripeCustomerChoice;
      /** The instant of the change; default: now for a switch, `timing` for a plan change. */
      effectiveAtMs?: number;
      timing?: ChangeTiming;
      nowMs: number;
      /** The calendar a new subscription gets unless given (the account's). */
      defaults: { anchorDay: number; timezone: string };
    }
  | {
      kind: 'pooled';
      tenantId: string;
      effectiveAtMs?: number;
      /** Without `effectiveAtMs`: now (default) or the end of the own plan's current period. */
      timing?: ChangeTiming;
      nowMs: number;
    };

export interface TenantBillingContext {
  /** The account's pool calendar, when the account has a subscription. */
  pool?: Pick<Subscription, 'anchorDay' | 'timezone'>;
  /** The end of the pool's last invoiced (finalized, paid or void) period; earlier instants are closed. */
  poolClosedUntilMs: number;
  /** The same for the tenant's open own subscription. */
  ownClosedUntilMs: number;
  /** The start of the latest period the open own subscription has an invoice for (any status). */
  ownInvoicedFromMs?: number;
}

/** A change of what bills the tenant, from `effectiveFromMs` on. */
export interface TenantBillingChange {
  mode: BillingModeName;
  effectiveFromMs: number;
  subscription: TenantSubscription;
  /** mode `tenant`: the plan phase that starts. */
  phase?: SubscriptionPhase;
}

export interface TenantBillingDecision {
  /** The subscription created or changed; none when nothing changes. */
  subscription?: TenantSubscription;
  change?: TenantBillingChange;
}

const FIELD = 'effectiveAt';

function closedCheck(atMs: number, closedUntilMs: number, what: string): void {
  if (atMs < closedUntilMs) {
    throw invalid(
      FIELD,
      `${new Date(atMs).toISOString()} is in a period of the ${what} that is already invoiced (closed until ${new Date(closedUntilMs).toISOString()})`,
      BillingErrorCode.PERIOD_CLOSED,
    );
  }
}

/** The tenant's open own subscription (the last one, if it has not ended). */
export const openSubscription = (history: readonly TenantSubscription[]): TenantSubscription | undefined => {
  const last = history[history.length - 1];
  return last && last.endMs === null ? last : undefined;
};

/**
 * Moves a tenant between the pool and its own plan, or changes its own plan. `history` is the
 * tenant's subscriptions, oldest first. Rules:
 * - a switch takes effect at `effectiveAt` (default now), never before the tenant's last change
 *   nor inside a period already invoiced (the pool's or the own plan's);
 * - a plan change of an own subscription is a phase, like an account's (next period by default,
 *   or `now`, or at `effectiveAt`); its calendar, currency and Stripe customer never change;
 * - a tenant that left the pool within a pool period rejoins it from that period's end at the
 *   earliest, so within one pool period a tenant is pooled over one part of it (distinct counts
 *   stay exact);
 * - asking for the mode the tenant is already in (same plan version) changes nothing.
 */
export function decideTenantBilling(
  history: readonly TenantSubscription[],
  cmd: TenantBillingCommand,
  ctx: TenantBillingContext,
): TenantBillingDecision {
  const current = openSubscription(history);
  if (cmd.kind === 'pooled') {
    if (!current) return {};
    const requested =
      cmd.effectiveAtMs ??
      ((cmd.timing ?? 'now') === 'now'
        ? cmd.nowMs
        : calendarOf(current).periodAt(Math.max(cmd.nowMs, current.startMs)).endMs);
    // Back to the pool before a scheduled own plan started: it never takes effect.
    const endMs = Math.max(requested, current.startMs);
    closedCheck(endMs, ctx.ownClosedUntilMs, 'own plan');
    closedCheck(endMs, ctx.poolClosedUntilMs, 'pool');
    // An end before what the latest own invoice bills would leave that invoice with nothing to bill.
    if (ctx.ownInvoicedFromMs !== undefined) {
      const billedFrom = Math.max(ctx.ownInvoicedFromMs, current.startMs);
      if (endMs <= billedFrom) {
        throw invalid(
          FIELD,
          `the own plan has an invoice for its part of the period from ${new Date(billedFrom).toISOString()}; it can end only after that`,
          BillingErrorCode.PERIOD_CLOSED,
        );
      }
    }
    if (ctx.pool && current.startMs < endMs) {
      const period = calendarOf(ctx.pool).periodAt(endMs);
      if (period.startMs < current.startMs) {
        throw invalid(
          FIELD,
          `the tenant left the pool at ${new Date(current.startMs).toISOString()}, within the pool's period from ${period.startDate}; it rejoins the pool from ${new Date(period.endMs).toISOString()} at the earliest`,
          BillingErrorCode.POOL_REJOIN_TOO_EARLY,
        );
      }
    }
    const phases = current.phases.filter((p, i) => i === 0 || p.effectiveFromMs < endMs);
    const subscription = { ...current, phases, endMs };
    return { subscription, change: { mode: 'pooled', effectiveFromMs: endMs, subscription } };
  }

  const phaseFrom = (effectiveFromMs: number): SubscriptionPhase => ({
    effectiveFromMs,
    planId: cmd.planId,
    planVersion: cmd.planVersion,
  });

  if (!current) {
    const startMs = cmd.effectiveAtMs ?? cmd.nowMs;
    const last = history[history.length - 1];
    if (last && startMs < (last.endMs ?? last.startMs)) {
      throw invalid(
        FIELD,
        `must not be before the tenant's last change, at ${new Date(last.endMs ?? last.startMs).toISOString()}`,
      );
    }
    closedCheck(startMs, ctx.poolClosedUntilMs, 'pool');
    const anchorDay = cmd.anchorDay ?? cmd.defaults.anchorDay;
    const timezone = cmd.timezone ?? cmd.defaults.timezone;
    const calendar = calendarFor(anchorDay, timezone);
    try {
      calendar.periodAt(startMs);
    } catch (err) {
      throw invalid(FIELD, (err as Error).message);
    }
    const first = phaseFrom(startMs);
    const subscription: TenantSubscription = {
      id: cmd.newId,
      accountId: cmd.accountId,
      tenantId: cmd.tenantId,
      currency: cmd.currency,
      anchorDay,
      timezone,
      startMs,
      endMs: null,
      phases: [first],
      stripeCustomer: cmd.stripeCustomer ?? 'account',
    };
    return { subscription, change: { mode: 'tenant', effectiveFromMs: startMs, subscription, phase: first } };
  }

  checkPlanChange(current, cmd);
  if (cmd.stripeCustomer !== undefined && cmd.stripeCustomer !== current.stripeCustomer) {
    throw invalid(
      'stripeCustomer',
      'the Stripe customer of a subscription does not change',
      BillingErrorCode.CALENDAR_IMMUTABLE,
    );
  }
  if (isOnPlan(current, cmd)) return {};
  const at = Math.max(cmd.nowMs, current.startMs);
  const effectiveFromMs =
    cmd.effectiveAtMs ??
    ((cmd.timing ?? 'next-period') === 'now' ? at : calendarOf(current).periodAt(at).endMs);
  if (effectiveFromMs < current.startMs) {
    throw invalid(
      FIELD,
      `must not be before the own plan's start, ${new Date(current.startMs).toISOString()}`,
    );
  }
  closedCheck(effectiveFromMs, ctx.ownClosedUntilMs, 'own plan');
  const added = phaseFrom(effectiveFromMs);
  const kept = current.phases.filter((p) => p.effectiveFromMs < effectiveFromMs);
  const subscription = { ...current, phases: [...kept, added] };
  return { subscription, change: { mode: 'tenant', effectiveFromMs, subscription, phase: added } };
}

/** The spans in which tenants are on their own plans, for pooling (`pooledUsage`). */
export const ownPlanSpans = (subscriptions: readonly TenantSubscription[]): OwnPlanSpan[] =>
  subscriptions
    .map((s) => ({ tenantId: s.tenantId, subscriptionId: s.id, ...subscriptionSpan(s) }))
    .filter((s) => s.fromMs < s.toMs);

/** A tenant's modes over time: pooled, then each own subscription and the pool between them. */
export function modeHistory(history: readonly TenantSubscription[]) {
  const iso = (ms: number) => new Date(ms).toISOString();
  const entries: {
    mode: BillingModeName;
    from: string | null;
    to: string | null;
    subscriptionId?: string;
  }[] = [];
  let pooledFrom: number | null = null;
  for (const s of history) {
    if (s.endMs !== null && s.endMs <= s.startMs) continue;
    entries.push({ mode: 'pooled', from: pooledFrom === null ? null : iso(pooledFrom), to: iso(s.startMs) });
    entries.push({
      mode: 'tenant',
      from: iso(s.startMs),
      to: s.endMs === null ? null : iso(s.endMs),
      subscriptionId: s.id,
    });
    pooledFrom = s.endMs;
  }
  const last = history[history.length - 1];
  if (!last || last.endMs !== null) {
    entries.push({ mode: 'pooled', from: pooledFrom === null ? null : iso(pooledFrom), to: null });
  }
  return entries;
}
