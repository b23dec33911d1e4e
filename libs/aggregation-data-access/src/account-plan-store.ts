import { randomBytes } from 'node:crypto';
import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import type { SubscriptionChangedData, TenantSubscriptionChangedData } from '@metering/contracts';
import { eventStoreMigration } from '@metering/event-store';

export class AccountPlansTable1764300000000 implements MigrationInterface {
  name = 'AccountPlansTable1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE account_plans (
      account_id text NOT NULL,
      effective_from_ms bigint NOT NULL,
      plan jsonb NOT NULL,
      event_id uuid NOT NULL,
      PRIMARY KEY (account_id, effective_from_ms)
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE account_plans');
  }
}

/**
 * Quota crossings are an event-sourced stream per account and period (announced once, published
 * through the outbox to `quota.events.v1`). The store's app role is never used to log in here.
 */
export const quotaEventStoreMigration = () =>
  eventStoreMigration({ appRole: 'aggregation_app', appPassword: randomBytes(24).toString('hex') });

export interface AccountPlan extends SubscriptionChangedData {
  accountId: string;
}

/**
 * What each account's plan allows, as billing announced it (`subscription.changed`): one row per
 * account and effective instant, so a change that takes effect at the next period does not
 * replace the current plan early, and a replayed event changes nothing.
 */
export class AccountPlanStore {
  constructor(private readonly db: DataSource) {}

  async record(accountId: string, eventId: string, plan: SubscriptionChangedData): Promise<void> {
    await this.db.query(
      `INSERT INTO account_plans (account_id, effective_from_ms, plan, event_id) VALUES ($1, $2, $3, $4)
       ON CONFLICT (account_id, effective_from_ms) DO UPDATE SET plan = EXCLUDED.plan, event_id = EXCLUDED.event_id`,
      [accountId, plan.effectiveFromMs, JSON.stringify(plan), eventId],
    );
  }

  /** The plan in force at `atMs` for each account that has one. */
  async inForce(atMs: number, accountId?: string): Promise<AccountPlan[]> {
    const rows = await this.db.query<{ account_id: string; plan: SubscriptionChangedData }[]>(
      `SELECT DISTINCT ON (account_id) account_id, plan FROM account_plans
       WHERE effective_from_ms <= $1 AND ($2::text IS NULL OR account_id = $2)
       ORDER BY account_id, effective_from_ms DESC`,
      [atMs, accountId ?? null],
    );
    return rows.map((r) => ({ ...r.plan, accountId: r.account_id }));
  }
}

export class TenantPlansTable1764500000000 implements MigrationInterface {
  name = 'TenantPlansTable1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE tenant_plans (
      tenant_id text NOT NULL,
      effective_from_ms bigint NOT NULL,
      account_id text NOT NULL,
      mode text NOT NULL CHECK (mode IN ('pooled', 'tenant')),
      subscription_id text NOT NULL,
      plan jsonb,
      event_id uuid NOT NULL,
      stream_version integer NOT NULL,
      PRIMARY KEY (tenant_id, effective_from_ms)
    )`);
    await q.query('CREATE INDEX tenant_plans_account ON tenant_plans (account_id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tenant_plans');
  }
}

/** A tenant on its own plan: what that plan allows, since when and until when (`Infinity`: open). */
export interface TenantPlan {
  tenantId: string;
  accountId: string;
  subscriptionId: string;
  sinceMs: number;
  untilMs: number;
  plan: SubscriptionChangedData;
}

/** A span in which a tenant is on its own plan, outside the account's pool: `[fromMs, toMs)`. */
export interface TenantOwnSpan {
  tenantId: string;
  subscriptionId: string;
  fromMs: number;
  toMs: number;
}

interface TenantPlanRow {
  tenant_id: string;
  account_id: string;
  effective_from_ms: string;
  mode: 'pooled' | 'tenant';
  subscription_id: string;
  plan: SubscriptionChangedData | null;
}

/**
 * Tenants' billing modes as billing announced them (`tenant_subscription.changed`): one row per
 * tenant and effective instant. A change replaces what the tenant's later rows said (billing
 * decides changes of a tenant one at a time, in stream order); a replayed or older event — by its
 * stream version — changes nothing.
 */
export class TenantPlanStore {
  constructor(private readonly db: DataSource) {}

  async record(
    accountId: string,
    event: { eventId: string; aggregateVersion: number },
    change: TenantSubscriptionChangedData,
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
        `tenant-plan:${change.tenantId}`,
      ]);
      const [seen] = await tx.query<{ v: number | null }[]>(
        `SELECT max(stream_version) AS v FROM tenant_plans WHERE tenant_id = $1`,
        [change.tenantId],
      );
      if (seen.v !== null && seen.v >= event.aggregateVersion) return;
      await tx.query(`DELETE FROM tenant_plans WHERE tenant_id = $1 AND effective_from_ms >= $2`, [
        change.tenantId,
        change.effectiveFromMs,
      ]);
      await tx.query(
        `INSERT INTO tenant_plans (tenant_id, effective_from_ms, account_id, mode, subscription_id, plan, event_id,
           stream_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          change.tenantId,
          change.effectiveFromMs,
          accountId,
          change.mode,
          change.subscriptionId,
          change.plan ? JSON.stringify(change.plan) : null,
          event.eventId,
          event.aggregateVersion,
        ],
      );
    });
  }

  private async rows(where: string, params: unknown[]): Promise<TenantPlanRow[]> {
    return this.db.query<TenantPlanRow[]>(
      `SELECT tenant_id, account_id, effective_from_ms, mode, subscription_id, plan FROM tenant_plans
       WHERE ${where} ORDER BY tenant_id, effective_from_ms`,
      params,
    );
  }

  /** The spans in which the account's tenants are on their own plans, consecutive plan changes merged. */
  async ownSpans(accountId: string): Promise<TenantOwnSpan[]> {
    return toSpans(await this.rows('account_id = $1', [accountId])).map((s) => ({
      tenantId: s.tenantId,
      subscriptionId: s.subscriptionId,
      fromMs: s.fromMs,
      toMs: s.toMs,
    }));
  }

  /** The account's tenants on their own plans at `atMs`, in one read. */
  async ownPlansAt(accountId: string, atMs: number): Promise<TenantPlan[]> {
    return plansAt(await this.rows('account_id = $1', [accountId]), atMs);
  }
}

/** The own plans in force at `atMs` in some tenants' rows (by tenant, oldest first). */
function plansAt(rows: TenantPlanRow[], atMs: number): TenantPlan[] {
  return toSpans(rows)
    .filter((span) => span.fromMs <= atMs && atMs < span.toMs)
    .map((span) => ({
      tenantId: span.tenantId,
      accountId: span.accountId,
      subscriptionId: span.subscriptionId,
      sinceMs: span.fromMs,
      untilMs: span.toMs,
      plan: [...span.phases].reverse().find((p) => p.fromMs <= atMs)!.plan,
    }));
}

/** Own-plan spans from a tenant's rows (by tenant, oldest first); a plan change within one is a phase. */
function toSpans(rows: TenantPlanRow[]) {
  const spans: (TenantOwnSpan & {
    accountId: string;
    phases: { fromMs: number; plan: SubscriptionChangedData }[];
  })[] = [];
  rows.forEach((row, i) => {
    if (row.mode !== 'tenant' || !row.plan) return;
    const fromMs = Number(row.effective_from_ms);
    const next = rows[i + 1]?.tenant_id === row.tenant_id ? Number(rows[i + 1].effective_from_ms) : Infinity;
    const last = spans[spans.length - 1];
    if (
      last?.tenantId === row.tenant_id &&
      last.subscriptionId === row.subscription_id &&
      last.toMs === fromMs
    ) {
      last.toMs = next;
      last.phases.push({ fromMs, plan: row.plan });
      return;
    }
    spans.push({
      tenantId: row.tenant_id,
      accountId: row.account_id,
      subscriptionId: row.subscription_id,
      fromMs,
      toMs: next,
      phases: [{ fromMs, plan: row.plan }],
    });
  });
  return spans;
}
