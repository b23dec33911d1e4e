import { randomBytes } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import {
  SUBSCRIPTION_CHANGED,
  TENANT_SUBSCRIPTION_CHANGED,
  type Actor,
  type SubscriptionChangedData,
  type TenantSubscriptionChangedData,
} from '@metering/contracts';
import type { AccountScope, EventStore, NewEvent } from '@metering/event-store';
import {
  BillingError,
  BillingErrorCode,
  DEFAULT_ANCHOR_DAY,
  DEFAULT_TIMEZONE,
  decideSubscription,
  decideTenantBilling,
  normalizePlanVersion,
  type TenantBillingChange,
  type TenantBillingCommand,
  type TenantSubscription,
  type Invoice,
  type InvoiceDraft,
  type InvoiceLine,
  type InvoiceStatus,
  type PlanVersion,
  type PlanVersionSpec,
  type SubscribeCommand,
  type Subscription,
} from '@metering/billing-domain';
import type { BillingPeriod } from '@metering/billing-math';

/** Who is acting and what they may see. Every store method takes it first. */
export interface Caller {
  scope: AccountScope;
  actor: Actor;
  correlationId?: string;
}

/** Plan events belong to the platform, not to an account (the registry's convention). */
export const PLATFORM_ACCOUNT = '_platform';

export interface Plan {
  id: string;
  name: string;
  latestVersion: number;
  createdAt: string;
  versions: PlanVersion[];
}

export const newId = (prefix: string) =>
  `${prefix}_${randomBytes(10).toString('base64url').replace(/[-_]/g, 'x')}`;

type Row = Record<string, unknown>;
const iso = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : null);

const toVersion = (r: Row): PlanVersion => ({
  ...(r.spec as PlanVersionSpec),
  planId: r.plan_id as string,
  version: r.version as number,
  createdAt: iso(r.created_at)!,
});

const toSubscription = (r: Row): Subscription & { version: number } => ({
  id: r.id as string,
  accountId: r.account_id as string,
  currency: r.currency as string,
  anchorDay: r.anchor_day as number,
  timezone: r.timezone as string,
  startMs: Number(r.start_ms),
  phases: r.phases as Subscription['phases'],
  version: r.version as number,
});

const toTenantSubscription = (r: Row): TenantSubscription => {
  const { version: _version, ...subscription } = toSubscription(r);
  return {
    ...subscription,
    tenantId: r.tenant_id as string,
    endMs: r.end_ms === null ? null : Number(r.end_ms),
    stripeCustomer: r.stripe_customer as TenantSubscription['stripeCustomer'],
  };
};

// Lines are kept as JSON with amounts as decimal strings (bigint has no JSON form).
const AMOUNT_KEYS = new Set(['amount', 'invoicedAmount', 'currentAmount']);
const linesToJson = (lines: readonly InvoiceLine[]) =>
  JSON.stringify(lines, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
/** Key order does not survive jsonb; compare lines in a canonical form. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v && typeof v === 'object' && !Array.isArray(v))
      return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return v;
  });
const linesFromJson = (json: unknown): InvoiceLine[] =>
  JSON.parse(JSON.stringify(json), (k, v: unknown) =>
    AMOUNT_KEYS.has(k) && typeof v === 'string' ? BigInt(v) : v,
  ) as InvoiceLine[];

export const toInvoice = (r: Row): Invoice => ({
  id: r.id as string,
  accountId: r.account_id as string,
  subscriptionId: r.subscription_id as string,
  tenantId: (r.tenant_id as string | null) ?? null,
  periodStartMs: Number(r.period_start_ms),
  periodEndMs: Number(r.period_end_ms),
  periodStartDate: r.period_start_date as string,
  periodEndDate: r.period_end_date as string,
  currency: r.currency as string,
  status: r.status as InvoiceStatus,
  total: BigInt(r.total_minor as string),
  lines: linesFromJson(r.lines),
  rated: r.rated as Invoice['rated'],
  graceUntilMs: Number(r.grace_until_ms),
  version: r.version as number,
  createdAt: iso(r.created_at)!,
  updatedAt: iso(r.updated_at)!,
  finalizedAt: iso(r.finalized_at),
  voidedAt: iso(r.voided_at),
  voidReason: (r.void_reason as string | null) ?? null,
});

/** What `subscription.changed` carries: enough for aggregation to evaluate quotas on its own. */
export function subscriptionChangedData(
  subscription: Subscription,
  effectiveFromMs: number,
  plan: PlanVersion,
): SubscriptionChangedData {
  return {
    subscriptionId: subscription.id,
    planId: plan.planId,
    planVersion: plan.version,
    currency: plan.currency,
    anchorDay: subscription.anchorDay,
    timezone: subscription.timezone,
    effectiveFromMs,
    meters: plan.meters.map((m) => ({
      meterKey: m.meterKey,
      included: m.included,
      ...(m.hardCap === undefined ? {} : { hardCap: m.hardCap }),
    })),
    tenantLimits: plan.tenantLimits,
  };
}

/** What `tenant_subscription.changed` carries: the tenant's mode from an instant on, with its plan. */
export function tenantSubscriptionChangedData(
  change: TenantBillingChange,
  plan?: PlanVersion,
): TenantSubscriptionChangedData {
  const { subscription } = change;
  return {
    tenantId: subscription.tenantId,
    mode: change.mode,
    effectiveFromMs: change.effectiveFromMs,
    subscriptionId: subscription.id,
    ...(change.mode === 'tenant' && plan
      ? { plan: subscriptionChangedData(subscription, change.effectiveFromMs, plan) }
      : {}),
  };
}

/** A page of an account's invoices: after a position (period start, then subscription id), filtered by mode. */
export interface InvoicePage {
  after?: { periodStartMs: number; subscriptionId?: string };
  limit?: number;
  mode?: 'pooled' | 'tenant';
  tenantId?: string;
}

export interface DraftToSave {
  accountId: string;
  subscriptionId: string;
  /** The tenant of an own subscription's invoice; none for the account's pooled invoice. */
  tenantId?: string | null;
  period: BillingPeriod;
  draft: InvoiceDraft;
  graceUntilMs: number;
  /** Finalize in the same transaction (the grace period is over). */
  finalize: boolean;
}

export type SaveOutcome = 'drafted' | 'rerated' | 'unchanged' | 'finalized' | 'closed';

/**
 * Billing's state in Postgres: the plan catalog, subscriptions and invoices. Every write and its
 * domain events (through the event store's transactional outbox to `billing.events.v1`) commit in
 * one transaction; reads and writes of account data run under row-level security.
 */
export class BillingStore {
  constructor(
    readonly events: EventStore,
    /** Queue each invoice for Stripe (`stripe_invoice_sync`) in the transaction that finalizes it. */
    private readonly options: { stripeSync?: boolean } = {},
  ) {}

  /** Appends events to a stream at its current version, in the caller's transaction (outbox). */
  async emit(
    tx: EntityManager,
    caller: Caller,
    accountId: string,
    stream: { id: string; type: string },
    events: NewEvent[],
  ) {
    const expectedVersion = await this.events.currentVersion(tx, stream.id);
    await this.events.append(tx, {
      streamId: stream.id,
      streamType: stream.type,
      expectedVersion,
      events,
      context: {
        accountId,
        actor: caller.actor,
        ...(caller.correlationId ? { correlationId: caller.correlationId } : {}),
      },
    });
  }

  // ---- plans ----

  async createPlan(
    caller: Caller,
    input: { id?: string; name: string; spec: PlanVersionSpec },
  ): Promise<Plan> {
    const id = input.id ?? newId('plan');
    const spec = normalizePlanVersion(input.spec);
    await this.events.inScope(caller.scope, async (tx) => {
      const inserted = await tx.query<Row[]>(
        `INSERT INTO plans (id, name, latest_version) VALUES ($1, $2, 1) ON CONFLICT (id) DO NOTHING RETURNING id`,
        [id, input.name],
      );
      if (!inserted.length) {
        throw new BillingError(BillingErrorCode.PLAN_EXISTS, `a plan ${id} already exists`, [
          { field: 'id', reasons: ['already exists'] },
        ]);
      }
      await tx.query(`INSERT INTO plan_versions (plan_id, version, spec) VALUES ($1, 1, $2)`, [id, spec]);
      await this.emit(tx, caller, PLATFORM_ACCOUNT, { id: `plan:${id}`, type: 'plan' }, [
        { type: 'plan.created', data: { planId: id, name: input.name } },
        { type: 'plan.version_created', data: { planId: id, version: 1, ...spec } },
      ]);
    });
    return this.getPlan(caller, id);
  }

  async addPlanVersion(caller: Caller, planId: string, input: PlanVersionSpec): Promise<PlanVersion> {
    const spec = normalizePlanVersion(input);
    const version = await this.events.inScope(caller.scope, async (tx) => {
      const [plan] = await tx.query<Row[]>(`SELECT latest_version FROM plans WHERE id = $1 FOR UPDATE`, [
        planId,
      ]);
      if (!plan) throw new BillingError(BillingErrorCode.PLAN_NOT_FOUND, `no plan ${planId}`);
      const next = (plan.latest_version as number) + 1;
      await tx.query(`UPDATE plans SET latest_version = $2 WHERE id = $1`, [planId, next]);
      await tx.query(`INSERT INTO plan_versions (plan_id, version, spec) VALUES ($1, $2, $3)`, [
        planId,
        next,
        spec,
      ]);
      await this.emit(tx, caller, PLATFORM_ACCOUNT, { id: `plan:${planId}`, type: 'plan' }, [
        { type: 'plan.version_created', data: { planId, version: next, ...spec } },
      ]);
      return next;
    });
    return this.getPlanVersion(caller, planId, version);
  }

  /** The catalog, or one plan of it. */
  async listPlans(caller: Caller, planId?: string): Promise<Plan[]> {
    return this.events.inScope(caller.scope, async (tx) => {
      const where = planId ? 'WHERE plan_id = $1' : '';
      const plans = await tx.query<Row[]>(
        `SELECT * FROM plans ${planId ? 'WHERE id = $1' : ''} ORDER BY created_at, id`,
        planId ? [planId] : [],
      );
      const versions = await tx.query<Row[]>(
        `SELECT * FROM plan_versions ${where} ORDER BY plan_id, version`,
        planId ? [planId] : [],
      );
      return plans.map((p) => ({
        id: p.id as string,
        name: p.name as string,
        latestVersion: p.latest_version as number,
        createdAt: iso(p.created_at)!,
        versions: versions.filter((v) => v.plan_id === p.id).map(toVersion),
      }));
    });
  }

  async getPlan(caller: Caller, planId: string): Promise<Plan> {
    const [plan] = await this.listPlans(caller, planId);
    if (!plan) throw new BillingError(BillingErrorCode.PLAN_NOT_FOUND, `no plan ${planId}`);
    return plan;
  }

  /** A plan version; `field` names the request field when it does not exist. */
  async getPlanVersion(
    caller: Caller,
    planId: string,
    version: number,
    field = 'planVersion',
  ): Promise<PlanVersion> {
    const [row] = await this.events.inScope(caller.scope, (tx) =>
      tx.query<Row[]>(`SELECT * FROM plan_versions WHERE plan_id = $1 AND version = $2`, [planId, version]),
    );
    if (!row) {
      throw new BillingError(
        BillingErrorCode.PLAN_VERSION_NOT_FOUND,
        `no version ${version} of plan ${planId}`,
        [{ field, reasons: [`plan ${planId} has no version ${version}`] }],
      );
    }
    return toVersion(row);
  }

  /** Every version a subscription refers to, by `planId@version`. */
  async planVersionsOf(caller: Caller, subscription: Subscription): Promise<Map<string, PlanVersion>> {
    const found = new Map<string, PlanVersion>();
    for (const p of subscription.phases) {
      const key = `${p.planId}@${p.planVersion}`;
      if (!found.has(key)) found.set(key, await this.getPlanVersion(caller, p.planId, p.planVersion));
    }
    return found;
  }

  // ---- subscriptions ----

  /**
   * Subscribes the account or changes its plan (`decideSubscription`); emits `subscription.changed`
   * when a phase was added. The row lock makes concurrent changes of one account take turns.
   */
  async subscribe(caller: Caller, cmd: Omit<SubscribeCommand, 'newId' | 'currency'>): Promise<Subscription> {
    const plan = await this.getPlanVersion(caller, cmd.planId, cmd.planVersion);
    return this.events.inScope(caller.scope, async (tx) => {
      const [row] = await tx.query<Row[]>(`SELECT * FROM subscriptions WHERE account_id = $1 FOR UPDATE`, [
        cmd.accountId,
      ]);
      const current = row ? toSubscription(row) : undefined;
      const { subscription, added } = decideSubscription(current, {
        ...cmd,
        newId: newId('sub'),
        currency: plan.currency,
      });
      if (!added) return subscription;
      if (current) {
        await tx.query(
          `UPDATE subscriptions SET phases = $2, version = version + 1, updated_at = now() WHERE account_id = $1`,
          [cmd.accountId, JSON.stringify(subscription.phases)],
        );
      } else {
        await tx.query(
          `INSERT INTO subscriptions (account_id, id, currency, anchor_day, timezone, start_ms, phases, version)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 1)`,
          [
            subscription.accountId,
            subscription.id,
            subscription.currency,
            subscription.anchorDay,
            subscription.timezone,
            subscription.startMs,
            JSON.stringify(subscription.phases),
          ],
        );
      }
      await this.emit(
        tx,
        caller,
        cmd.accountId,
        { id: `subscription:${cmd.accountId}`, type: 'subscription' },
        [
          {
            type: SUBSCRIPTION_CHANGED,
            data: subscriptionChangedData(subscription, added.effectiveFromMs, plan),
          },
        ],
      );
      return subscription;
    });
  }

  async findSubscription(caller: Caller, accountId: string): Promise<Subscription | undefined> {
    const [row] = await this.events.inScope(caller.scope, (tx) =>
      tx.query<Row[]>(`SELECT * FROM subscriptions WHERE account_id = $1`, [accountId]),
    );
    if (!row) return undefined;
    const { version: _version, ...subscription } = toSubscription(row);
    return subscription;
  }

  async getSubscription(caller: Caller, accountId: string): Promise<Subscription> {
    const found = await this.findSubscription(caller, accountId);
    if (!found)
      throw new BillingError(
        BillingErrorCode.SUBSCRIPTION_NOT_FOUND,
        `account ${accountId} has no subscription`,
      );
    return found;
  }

  /** Accounts with a subscription or a tenant on its own plan, within the caller's scope. */
  async subscribedAccounts(caller: Caller): Promise<string[]> {
    const rows = await this.events.inScope(caller.scope, (tx) =>
      tx.query<Row[]>(
        `SELECT account_id FROM subscriptions UNION SELECT account_id FROM tenant_subscriptions ORDER BY account_id`,
      ),
    );
    return rows.map((r) => r.account_id as string);
  }

  // ---- tenants' own subscriptions ----

  /** A tenant's own subscriptions, oldest first: its history of modes. */
  async tenantSubscriptions(caller: Caller, tenantId: string): Promise<TenantSubscription[]> {
    const rows = await this.events.inScope(caller.scope, (tx) =>
      tx.query<Row[]>(
        `SELECT * FROM tenant_subscriptions WHERE tenant_id = $1 ORDER BY start_ms, created_at`,
        [tenantId],
      ),
    );
    return rows.map(toTenantSubscription);
  }

  /** Every own subscription of the account's tenants. */
  async accountTenantSubscriptions(caller: Caller, accountId: string): Promise<TenantSubscription[]> {
    const rows = await this.events.inScope(caller.scope, (tx) =>
      tx.query<Row[]>(
        `SELECT * FROM tenant_subscriptions WHERE account_id = $1 ORDER BY tenant_id, start_ms, created_at`,
        [accountId],
      ),
    );
    return rows.map(toTenantSubscription);
  }

  async getTenantSubscription(caller: Caller, subscriptionId: string): Promise<TenantSubscription> {
    const [row] = await this.events.inScope(caller.scope, (tx) =>
      tx.query<Row[]>(`SELECT * FROM tenant_subscriptions WHERE id = $1`, [subscriptionId]),
    );
    if (!row) {
      throw new BillingError(
        BillingErrorCode.SUBSCRIPTION_NOT_FOUND,
        `no tenant subscription ${subscriptionId}`,
      );
    }
    return toTenantSubscription(row);
  }

  /**
   * Moves a tenant between its account's pool and its own plan, or changes its own plan
   * (`decideTenantBilling`), and emits `tenant_subscription.changed` in the same transaction.
   * Changes of one tenant take turns on a transaction-scoped lock; the periods already invoiced
   * are read under it.
   */
  async changeTenantBilling(
    caller: Caller,
    accountId: string,
    cmd:
      | Omit<
          Extract<TenantBillingCommand, { kind: 'own-plan' }>,
          'newId' | 'currency' | 'defaults' | 'accountId'
        >
      | Extract<TenantBillingCommand, { kind: 'pooled' }>,
  ): Promise<{ history: TenantSubscription[]; change?: TenantBillingChange }> {
    const plan =
      cmd.kind === 'own-plan' ? await this.getPlanVersion(caller, cmd.planId, cmd.planVersion) : undefined;
    return this.events.inScope(caller.scope, async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
        `tenant-billing:${cmd.tenantId}`,
      ]);
      const history = (
        await tx.query<Row[]>(
          `SELECT * FROM tenant_subscriptions WHERE tenant_id = $1 ORDER BY start_ms, created_at`,
          [cmd.tenantId],
        )
      ).map(toTenantSubscription);
      const stranger = history.find((h) => h.accountId !== accountId);
      if (stranger) throw new BillingError(BillingErrorCode.TENANT_NOT_FOUND, `no tenant ${cmd.tenantId}`);
      const [poolRow] = await tx.query<Row[]>(`SELECT * FROM subscriptions WHERE account_id = $1`, [
        accountId,
      ]);
      const pool = poolRow ? toSubscription(poolRow) : undefined;
      const open = history.find((h) => h.endMs === null);
      const [closed] = await tx.query<Row[]>(
        `SELECT
           coalesce(max(period_end_ms) FILTER (WHERE tenant_id IS NULL AND status <> 'draft'), 0) AS pool,
           coalesce(max(period_end_ms) FILTER (WHERE subscription_id = $2 AND status <> 'draft'), 0) AS own,
           max(period_start_ms) FILTER (WHERE subscription_id = $2) AS own_invoiced_from
         FROM invoices WHERE account_id = $1 AND (tenant_id IS NULL OR subscription_id = $2)`,
        [accountId, open?.id ?? null],
      );
      const decision = decideTenantBilling(
        history,
        cmd.kind === 'own-plan'
          ? {
              ...cmd,
              accountId,
              newId: newId('tsub'),
              currency: plan!.currency,
              defaults: {
                anchorDay: pool?.anchorDay ?? DEFAULT_ANCHOR_DAY,
                timezone: pool?.timezone ?? DEFAULT_TIMEZONE,
              },
            }
          : cmd,
        {
          ...(pool ? { pool } : {}),
          poolClosedUntilMs: Number(closed.pool),
          ownClosedUntilMs: Number(closed.own),
          ...(closed.own_invoiced_from === null
            ? {}
            : { ownInvoicedFromMs: Number(closed.own_invoiced_from) }),
        },
      );
      const { subscription: changed, change } = decision;
      if (!changed || !change) return { history };
      if (history.some((h) => h.id === changed.id)) {
        await tx.query(
          `UPDATE tenant_subscriptions SET phases = $2, end_ms = $3, version = version + 1, updated_at = now()
           WHERE id = $1`,
          [changed.id, JSON.stringify(changed.phases), changed.endMs],
        );
      } else {
        await tx.query(
          `INSERT INTO tenant_subscriptions (id, account_id, tenant_id, currency, anchor_day, timezone, start_ms,
             end_ms, phases, stripe_customer, version)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1)`,
          [
            changed.id,
            accountId,
            changed.tenantId,
            changed.currency,
            changed.anchorDay,
            changed.timezone,
            changed.startMs,
            changed.endMs,
            JSON.stringify(changed.phases),
            changed.stripeCustomer,
          ],
        );
      }
      await this.emit(
        tx,
        caller,
        accountId,
        { id: `tenant-subscription:${cmd.tenantId}`, type: 'tenant_subscription' },
        [
          {
            type: TENANT_SUBSCRIPTION_CHANGED,
            tenantId: cmd.tenantId,
            data: tenantSubscriptionChangedData(change, plan),
          },
        ],
      );
      const others = history.filter((h) => h.id !== changed.id);
      return { history: [...others, changed].sort((a, b) => a.startMs - b.startMs), change };
    });
  }

  // ---- invoices ----

  /**
   * The account's invoices (pooled and its tenants' own), oldest period first and by subscription
   * within a period; `page` continues after a position and filters by mode or tenant.
   */
  async listInvoices(caller: Caller, accountId: string, page: InvoicePage = {}): Promise<Invoice[]> {
    const rows = await this.events.inScope(caller.scope, (tx) =>
      tx.query<Row[]>(
        `SELECT * FROM invoices WHERE account_id = $1
           AND (period_start_ms > $2 OR (period_start_ms = $2 AND $3::text IS NOT NULL AND subscription_id > $3))
           AND ($5::text IS NULL OR ($5 = 'pooled') = (tenant_id IS NULL))
           AND ($6::text IS NULL OR tenant_id = $6)
         ORDER BY period_start_ms, subscription_id LIMIT $4`,
        [
          accountId,
          page.after?.periodStartMs ?? Number.MIN_SAFE_INTEGER,
          page.after?.subscriptionId ?? null,
          page.limit ?? null,
          page.mode ?? null,
          page.tenantId ?? null,
        ],
      ),
    );
    return rows.map(toInvoice);
  }

  /** A subscription's invoices (the account's pool or a tenant's own), oldest period first. */
  async subscriptionInvoices(caller: Caller, accountId: string, subscriptionId: string): Promise<Invoice[]> {
    const rows = await this.events.inScope(caller.scope, (tx) =>
      tx.query<Row[]>(
        `SELECT * FROM invoices WHERE account_id = $1 AND subscription_id = $2 ORDER BY period_start_ms`,
        [accountId, subscriptionId],
      ),
    );
    return rows.map(toInvoice);
  }

  async getInvoice(caller: Caller, invoiceId: string): Promise<Invoice> {
    const [row] = await this.events.inScope(caller.scope, (tx) =>
      tx.query<Row[]>(`SELECT * FROM invoices WHERE id = $1`, [invoiceId]),
    );
    if (!row) throw new BillingError(BillingErrorCode.INVOICE_NOT_FOUND, `no invoice ${invoiceId}`);
    return toInvoice(row);
  }

  /**
   * Stores the invoice of a period: a new draft (lines and `invoice.drafted` in one transaction),
   * or a re-rated draft when its lines changed; never touches a finalized or void invoice. With
   * `finalize`, the draft is finalized in the same transaction.
   */
  async saveDraft(caller: Caller, input: DraftToSave): Promise<{ outcome: SaveOutcome; invoice: Invoice }> {
    return this.events.inScope(caller.scope, async (tx) => {
      const { draft, period } = input;
      const lines = linesToJson(draft.lines);
      const [inserted] = await tx.query<Row[]>(
        `INSERT INTO invoices (id, account_id, subscription_id, period_start_ms, period_end_ms, period_start_date,
           period_end_date, currency, status, total_minor, lines, rated, grace_until_ms, version, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'draft', $9, $10, $11, $12, 1, $13)
         ON CONFLICT (subscription_id, period_start_ms) DO NOTHING RETURNING *`,
        [
          newId('inv'),
          input.accountId,
          input.subscriptionId,
          period.startMs,
          period.endMs,
          period.startDate,
          period.endDate,
          draft.currency,
          draft.total.toString(),
          lines,
          JSON.stringify(draft.rated),
          input.graceUntilMs,
          input.tenantId ?? null,
        ],
      );
      let outcome: SaveOutcome;
      let invoice: Invoice;
      if (inserted) {
        invoice = toInvoice(inserted);
        await this.writeLines(tx, invoice.id, input.accountId, draft.lines);
        await this.emit(tx, caller, input.accountId, invoiceStream(invoice.id), [
          { type: 'invoice.drafted', data: invoiceEventData(invoice) },
        ]);
        outcome = 'drafted';
      } else {
        const [row] = await tx.query<Row[]>(
          `SELECT * FROM invoices WHERE subscription_id = $1 AND period_start_ms = $2 FOR UPDATE`,
          [input.subscriptionId, period.startMs],
        );
        invoice = toInvoice(row);
        if (invoice.status !== 'draft') return { outcome: 'closed', invoice };
        const same = canonical(invoice.lines) === canonical(draft.lines) && invoice.total === draft.total;
        if (same) {
          outcome = 'unchanged';
        } else {
          const [updated] = await tx.query<Row[][]>(
            `UPDATE invoices SET total_minor = $2, lines = $3, rated = $4, grace_until_ms = $5, version = version + 1,
               updated_at = now() WHERE id = $1 RETURNING *`,
            [invoice.id, draft.total.toString(), lines, JSON.stringify(draft.rated), input.graceUntilMs],
          );
          invoice = toInvoice(updated[0]);
          await tx.query(`DELETE FROM invoice_lines WHERE invoice_id = $1`, [invoice.id]);
          await this.writeLines(tx, invoice.id, input.accountId, draft.lines);
          outcome = 'rerated';
        }
      }
      if (input.finalize) {
        invoice = await this.finalizeIn(tx, caller, invoice);
        outcome = 'finalized';
      }
      return { outcome, invoice };
    });
  }

  private async writeLines(
    tx: EntityManager,
    invoiceId: string,
    accountId: string,
    lines: readonly InvoiceLine[],
  ) {
    const rows: unknown[][] = [];
    lines.forEach((line, i) => {
      rows.push([i + 1, '', line.kind, line.meterKey ?? null, line.pooled ?? null, line.amount.toString()]);
      for (const sub of line.attribution) {
        rows.push([
          i + 1,
          sub.tenantId,
          line.kind,
          line.meterKey ?? null,
          sub.quantity,
          sub.amount.toString(),
        ]);
      }
    });
    const columns = ['line_no', 'tenant_id', 'kind', 'meter_key', 'quantity', 'amount_minor'];
    const unnest = `SELECT $1, $2, * FROM unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::numeric[])`;
    await tx.query(`INSERT INTO invoice_lines (invoice_id, account_id, ${columns.join(', ')}) ${unnest}`, [
      invoiceId,
      accountId,
      ...columns.map((_, c) => rows.map((r) => r[c])),
    ]);
  }

  private async finalizeIn(tx: EntityManager, caller: Caller, invoice: Invoice): Promise<Invoice> {
    const [updated] = await tx.query<Row[][]>(
      `UPDATE invoices SET status = 'finalized', finalized_at = now(), updated_at = now(), version = version + 1
       WHERE id = $1 AND status = 'draft' RETURNING *`,
      [invoice.id],
    );
    const rows = updated;
    if (!rows.length) {
      throw new BillingError(
        BillingErrorCode.INVOICE_NOT_DRAFT,
        `invoice ${invoice.id} is ${invoice.status}, not a draft`,
      );
    }
    const finalized = toInvoice(rows[0]);
    if (this.options.stripeSync) {
      await tx.query(`INSERT INTO stripe_invoice_sync (invoice_id, account_id) VALUES ($1, $2)`, [
        finalized.id,
        finalized.accountId,
      ]);
    }
    await this.emit(tx, caller, finalized.accountId, invoiceStream(finalized.id), [
      { type: 'invoice.finalized', data: invoiceEventData(finalized) },
    ]);
    return finalized;
  }

  /** Finalizes a draft as it stands; a finalized invoice never changes afterwards. */
  async finalize(caller: Caller, invoiceId: string): Promise<Invoice> {
    return this.events.inScope(caller.scope, async (tx) => {
      const invoice = await this.lockInvoice(tx, invoiceId);
      if (invoice.status !== 'draft') {
        throw new BillingError(
          BillingErrorCode.INVOICE_NOT_DRAFT,
          `invoice ${invoiceId} is ${invoice.status}, not a draft`,
        );
      }
      return this.finalizeIn(tx, caller, invoice);
    });
  }

  /** Voids a draft or finalized invoice; its period is not billed again. */
  async void(caller: Caller, invoiceId: string, reason: string): Promise<Invoice> {
    return this.events.inScope(caller.scope, async (tx) => {
      const invoice = await this.lockInvoice(tx, invoiceId);
      if (invoice.status === 'void') {
        throw new BillingError(BillingErrorCode.INVOICE_ALREADY_VOID, `invoice ${invoiceId} is already void`);
      }
      const [rows] = await tx.query<Row[][]>(
        `UPDATE invoices SET status = 'void', voided_at = now(), void_reason = $2, updated_at = now(),
           version = version + 1 WHERE id = $1 RETURNING *`,
        [invoiceId, reason],
      );
      const voided = toInvoice(rows[0]);
      await this.emit(tx, caller, voided.accountId, invoiceStream(voided.id), [
        {
          type: 'invoice.voided',
          data: { ...invoiceEventData(voided), previousStatus: invoice.status, reason },
        },
      ]);
      return voided;
    });
  }

  private async lockInvoice(tx: EntityManager, invoiceId: string): Promise<Invoice> {
    const [row] = await tx.query<Row[]>(`SELECT * FROM invoices WHERE id = $1 FOR UPDATE`, [invoiceId]);
    if (!row) throw new BillingError(BillingErrorCode.INVOICE_NOT_FOUND, `no invoice ${invoiceId}`);
    return toInvoice(row);
  }
}

export const invoiceStream = (id: string) => ({ id: `invoice:${id}`, type: 'invoice' });

export function invoiceEventData(invoice: Invoice) {
  return {
    invoiceId: invoice.id,
    subscriptionId: invoice.subscriptionId,
    mode: invoice.tenantId ? 'tenant' : 'pooled',
    ...(invoice.tenantId ? { tenantId: invoice.tenantId } : {}),
    periodStartMs: invoice.periodStartMs,
    periodEndMs: invoice.periodEndMs,
    currency: invoice.currency,
    status: invoice.status,
    totalMinor: invoice.total.toString(),
  };
}
