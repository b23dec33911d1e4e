import {
  BillingError,
  BillingErrorCode,
  buildInvoice,
  calendarOf,
  endedPeriods,
  ownPlanSpans,
  phasesIn,
  subscriptionSpan,
  type InvoiceDraft,
  type MeterPeriodUsage,
  type PlanVersion,
  type PriorPeriodUsage,
  type Subscription,
  type TenantSubscription,
} from '@metering/billing-domain';
import {
  clipRange,
  pooledUsage,
  type BillingPeriod,
  type MeterFigures,
  type OwnPlanSpan,
  type PoolMeter,
  type TimeRange,
} from '@metering/billing-math';
import type { BillingStore, Caller, SaveOutcome } from './billing.store';

/** Usage of an account's meters over `[fromMs, toMs)` (aggregation's `GetPeriodUsage`). */
export interface PeriodUsageSource {
  periodUsage(request: {
    accountId: string;
    fromMs: number;
    toMs: number;
    meterKeys: string[];
    /** Only these tenants (never empty); absent: every tenant of the account. */
    tenantIds?: string[];
  }): Promise<MeterPeriodUsage[]>;
  /** How each meter pools (the meter catalog); read only when a tenant changed mode within a period. */
  meterKinds(): Promise<PoolMeter[]>;
}

export interface AccountRunResult {
  accountId: string;
  invoices: {
    invoiceId: string;
    periodStart: string;
    outcome: SaveOutcome;
    status: string;
    mode: 'pooled' | 'tenant';
    tenantId?: string;
  }[];
}

export interface RunResult {
  asOf: string;
  accounts: AccountRunResult[];
  failed: { accountId: string; error: string }[];
  /** With `skipRecentMs`: accounts left to the run of this runner that is billing or just billed them. */
  skipped?: string[];
}

export interface RunOptions {
  /**
   * For scheduled runs: leaves out accounts another run of this runner is billing or is yet to
   * bill, or that a run without this option billed as of a time at most this long before `asOf`
   * (a requested run over the same accounts just went by). Scheduled runs do not count as having
   * billed an account, so each tick of a schedule bills what the previous one did.
   */
  skipRecentMs?: number;
}

const HOUR_MS = 3_600_000;

type KnownInvoice = {
  id: string;
  status: string;
  rated: PriorPeriodUsage['rated'];
  lines: { planId: string; planVersion: number }[];
};

/**
 * What one subscription bills: the account's pool (every tenant while pooled) or one tenant's own
 * plan (that tenant, within its subscription's span). Usage is read per range of a period.
 */
interface Billable {
  subscription: Subscription;
  tenantId: string | null;
  usage(range: TimeRange, meterKeys: string[]): Promise<MeterPeriodUsage[]>;
}

/** Aggregation's answer as pooling figures; a source that leaves out a tenant's own figure means its part. */
const figures = (usage: MeterPeriodUsage[]): MeterFigures[] =>
  usage.map((m) => ({
    meterKey: m.meterKey,
    pooled: m.pooled,
    tenants: m.tenants.map((t) => ({
      tenantId: t.tenantId,
      contribution: t.contribution,
      usage: t.usage ?? t.contribution,
      events: t.events ?? 1,
    })),
  }));

/**
 * A billing run: for every subscription in scope — each account's pool and each tenant's own plan —
 * one invoice per period that ended by `asOf`: drafted once, re-rated while its grace period lasts,
 * finalized after it. Safe to run concurrently and again after a crash: the store keeps one invoice
 * per subscription and period and writes each in one transaction.
 */
export class BillingRunner {
  /**
   * @param concurrency how many accounts a run bills at once: an account's work is mostly waiting
   * on Postgres and aggregation, and accounts share nothing.
   */
  constructor(
    private readonly store: BillingStore,
    private readonly usage: PeriodUsageSource,
    private readonly concurrency = 1,
  ) {}

  /** Accounts runs of this runner are billing or will bill, with how many runs do. */
  private readonly inProgress = new Map<string, number>();
  /** The latest `asOf` each account was billed as of by a run of this runner. */
  private readonly billedAsOf = new Map<string, number>();

  async run(
    caller: Caller,
    asOfMs: number,
    accountId?: string,
    options: RunOptions = {},
  ): Promise<RunResult> {
    if (!Number.isInteger(asOfMs) || asOfMs > Date.now()) {
      throw new BillingError(BillingErrorCode.INVALID_RUN, 'asOf must not be in the future', [
        { field: 'asOf', reasons: ['must not be in the future'] },
      ]);
    }
    const accounts = accountId ? [accountId] : await this.store.subscribedAccounts(caller);
    if (accountId) {
      return {
        asOf: new Date(asOfMs).toISOString(),
        accounts: [await this.runAccount(caller, accountId, asOfMs)],
        failed: [],
      };
    }
    // Results in the order of `accounts`, whatever order the accounts finish in.
    const outcomes: ({ ok: AccountRunResult } | { failed: string } | { skipped: true })[] = [];
    const { skipRecentMs } = options;
    const recent = (id: string) =>
      skipRecentMs !== undefined &&
      (this.inProgress.has(id) || (this.billedAsOf.get(id) ?? -Infinity) >= asOfMs - skipRecentMs);
    // A requested run holds every account it will bill from the start, so a scheduled run in
    // the meantime leaves alone those it has not reached yet as well as those it is billing.
    const requested = skipRecentMs === undefined;
    const held = new Set(requested ? accounts : []);
    for (const id of held) this.hold(id);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < accounts.length; i = next++) {
        if (recent(accounts[i])) {
          outcomes[i] = { skipped: true };
          continue;
        }
        try {
          outcomes[i] = { ok: await this.runAccount(caller, accounts[i], asOfMs, requested) };
        } catch (err) {
          // One account's failure (e.g. usage unavailable) leaves its invoices as they were; the
          // next run retries it. Nothing is written as empty usage.
          outcomes[i] = { failed: (err as Error).message };
        } finally {
          if (held.delete(accounts[i])) this.release(accounts[i]);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.concurrency, accounts.length) }, worker));
    } finally {
      for (const id of held) this.release(id);
    }
    const result: RunResult = {
      asOf: new Date(asOfMs).toISOString(),
      accounts: [],
      failed: [],
      ...(skipRecentMs === undefined ? {} : { skipped: [] }),
    };
    outcomes.forEach((outcome, i) => {
      if ('ok' in outcome) result.accounts.push(outcome.ok);
      else if ('failed' in outcome) result.failed.push({ accountId: accounts[i], error: outcome.failed });
      else result.skipped?.push(accounts[i]);
    });
    return result;
  }

  /** Bills one account; `remember` records it as billed for scheduled runs (see `skipRecentMs`). */
  async runAccount(
    caller: Caller,
    accountId: string,
    asOfMs: number,
    remember = true,
  ): Promise<AccountRunResult> {
    this.hold(accountId);
    try {
      const result = await this.billAccount(caller, accountId, asOfMs);
      if (remember) {
        this.billedAsOf.set(accountId, Math.max(asOfMs, this.billedAsOf.get(accountId) ?? -Infinity));
      }
      return result;
    } finally {
      this.release(accountId);
    }
  }

  private hold(accountId: string): void {
    this.inProgress.set(accountId, (this.inProgress.get(accountId) ?? 0) + 1);
  }

  private release(accountId: string): void {
    const runs = this.inProgress.get(accountId)! - 1;
    if (runs > 0) this.inProgress.set(accountId, runs);
    else this.inProgress.delete(accountId);
  }

  private async billAccount(caller: Caller, accountId: string, asOfMs: number): Promise<AccountRunResult> {
    const pool = await this.store.findSubscription(caller, accountId);
    const tenants = await this.store.accountTenantSubscriptions(caller, accountId);
    if (!pool && !tenants.length) {
      throw new BillingError(
        BillingErrorCode.SUBSCRIPTION_NOT_FOUND,
        `account ${accountId} has no subscription`,
      );
    }
    const out: AccountRunResult = { accountId, invoices: [] };
    const billables = [
      ...(pool ? [this.poolOf(pool, tenants)] : []),
      ...tenants.map((t) => this.ownPlanOf(t)),
    ];
    for (const billable of billables) {
      out.invoices.push(...(await this.runSubscription(caller, billable, asOfMs)));
    }
    return out;
  }

  private async runSubscription(caller: Caller, billable: Billable, asOfMs: number) {
    const { subscription, tenantId } = billable;
    const plans = await this.store.planVersionsOf(caller, subscription);
    const existing = await this.invoicesOf(caller, subscription);
    const results: AccountRunResult['invoices'] = [];
    for (const period of endedPeriods(subscription, asOfMs)) {
      const known = existing.get(period.startMs);
      if (known && known.status !== 'draft') continue;
      const draft = await this.rate(billable, plans, period, existing);
      if (!draft) continue;
      const grace = plans.get(keyOf(lastPhase(subscription, period)))!.gracePeriodHours;
      const graceUntilMs = period.endMs + grace * HOUR_MS;
      const saved = await this.store.saveDraft(caller, {
        accountId: subscription.accountId,
        subscriptionId: subscription.id,
        tenantId,
        period,
        draft,
        graceUntilMs,
        finalize: asOfMs >= graceUntilMs,
      });
      existing.set(period.startMs, saved.invoice);
      results.push({
        invoiceId: saved.invoice.id,
        periodStart: period.startDate,
        outcome: saved.outcome,
        status: saved.invoice.status,
        mode: tenantId ? 'tenant' : 'pooled',
        ...(tenantId ? { tenantId } : {}),
      });
    }
    return results;
  }

  /** The account's current pooled period as it would be invoiced at `asOfMs` (not stored). */
  async preview(
    caller: Caller,
    accountId: string,
    asOfMs: number,
  ): Promise<{ period: BillingPeriod; draft: InvoiceDraft }> {
    const subscription = await this.store.getSubscription(caller, accountId);
    const tenants = await this.store.accountTenantSubscriptions(caller, accountId);
    return this.previewOf(caller, this.poolOf(subscription, tenants), asOfMs);
  }

  /** A tenant's current own-plan period as it would be invoiced at `asOfMs` (not stored). */
  async previewTenant(
    caller: Caller,
    subscription: TenantSubscription,
    asOfMs: number,
  ): Promise<{ period: BillingPeriod; draft: InvoiceDraft }> {
    return this.previewOf(caller, this.ownPlanOf(subscription), asOfMs);
  }

  private async previewOf(caller: Caller, billable: Billable, asOfMs: number) {
    const { subscription } = billable;
    const plans = await this.store.planVersionsOf(caller, subscription);
    const at = Math.max(asOfMs, subscription.startMs);
    const period = calendarOf(subscription).periodAt(
      Math.min(at, (subscription.endMs ?? Number.POSITIVE_INFINITY) - 1),
    );
    const existing = await this.invoicesOf(caller, subscription);
    const draft = await this.rate(billable, plans, period, existing, at);
    if (!draft)
      throw new BillingError(
        BillingErrorCode.SUBSCRIPTION_NOT_FOUND,
        `subscription ${subscription.id} has no plan in force`,
      );
    return { period, draft };
  }

  private async invoicesOf(caller: Caller, subscription: Subscription): Promise<Map<number, KnownInvoice>> {
    const invoices = await this.store.subscriptionInvoices(caller, subscription.accountId, subscription.id);
    return new Map(invoices.map((i) => [i.periodStartMs, i]));
  }

  /** The pool: every tenant of the account except while it is on its own plan. */
  private poolOf(subscription: Subscription, tenants: TenantSubscription[]): Billable {
    const spans: OwnPlanSpan[] = ownPlanSpans(tenants);
    const accountId = subscription.accountId;
    return {
      subscription,
      tenantId: null,
      usage: (range, meterKeys) =>
        pooledUsage({
          read: async (request) => figures(await this.usage.periodUsage({ accountId, ...request })),
          meterKeys,
          range,
          spans,
          meterKinds: () => this.usage.meterKinds(),
        }),
    };
  }

  /** A tenant's own plan: that tenant's usage within its subscription's span. */
  private ownPlanOf(subscription: TenantSubscription): Billable {
    return {
      subscription,
      tenantId: subscription.tenantId,
      usage: async (range, meterKeys) => {
        const within = clipRange(range, subscriptionSpan(subscription));
        if (!within) return [];
        return this.usage.periodUsage({
          accountId: subscription.accountId,
          ...within,
          meterKeys,
          tenantIds: [subscription.tenantId],
        });
      },
    };
  }

  private async rate(
    billable: Billable,
    plans: Map<string, PlanVersion>,
    period: BillingPeriod,
    existing: Map<number, KnownInvoice>,
    usageUntilMs = period.endMs,
  ): Promise<InvoiceDraft | undefined> {
    const { subscription } = billable;
    const phases = phasesIn(subscription, period).map((p) => ({ ...p, spec: plans.get(keyOf(p))! }));
    if (!phases.length) return undefined;
    const last = phases[phases.length - 1];
    const from = Math.max(period.startMs, subscription.startMs);
    const usage =
      usageUntilMs > from
        ? await billable.usage(
            { fromMs: from, toMs: usageUntilMs },
            last.spec.meters.map((m) => m.meterKey),
          )
        : [];
    const prior: PriorPeriodUsage[] = [];
    const previous = calendarOf(subscription).previous(period);
    const before = existing.get(previous.startMs);
    if (before && before.status === 'finalized' && before.rated.length) {
      const usageLine = before.lines.find((l) => 'meterKey' in l) ?? before.lines[0];
      prior.push({
        invoiceId: before.id,
        planId: usageLine.planId,
        planVersion: usageLine.planVersion,
        periodStartMs: previous.startMs,
        periodEndMs: previous.endMs,
        rated: before.rated,
        current: await billable.usage(
          { fromMs: Math.max(previous.startMs, subscription.startMs), toMs: previous.endMs },
          before.rated.map((r) => r.meterKey),
        ),
      });
    }
    return buildInvoice({ period, phases, usage, prior });
  }
}

const keyOf = (p: { planId: string; planVersion: number }) => `${p.planId}@${p.planVersion}`;

function lastPhase(subscription: Subscription, period: BillingPeriod) {
  const phases = phasesIn(subscription, period);
  return phases[phases.length - 1];
}
