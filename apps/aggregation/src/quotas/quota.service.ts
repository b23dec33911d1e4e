import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import {
  AccountPlanStore,
  TenantPlanStore,
  type AccountPlan,
  type TenantPlan,
} from '@metering/aggregation-data-access';
import {
  BillingCalendar,
  clipRange,
  pooledUsage,
  type BillingPeriod,
  type MeterFigures,
  type UsageReader,
} from '@metering/billing-math';
import {
  AppError,
  QUOTA_EVENTS_TOPIC,
  type SubscriptionChangedData,
  type TenantSubscriptionChangedData,
} from '@metering/contracts';
import { inBackground } from '@metering/clickhouse';
import { ConcurrencyError, EventStore, OutboxRelay, handleCommand } from '@metering/event-store';
import { KafkaClient } from '@metering/kafka';
import {
  crossingId,
  formatQuantity,
  percentOf,
  quotaPeriodDecider,
  reachedThresholds,
  toQuantity,
  type QuotaCrossing,
} from '@metering/meters';
import { LOGGER, type Logger } from '@metering/observability';
import { OWNER_DATA_SOURCE, type Database } from '@metering/persistence';
import { AggregationConfig } from '../config';
import { MeterCatalogService } from '../meters/meter-catalog.service';
import { UsageService, type UsageResult } from '../usage/usage.service';

export interface MeterQuota {
  meter: string;
  included: string;
  hardCap?: string;
  used: string;
  /** Included quantity left (never below zero). */
  remaining: string;
  percentUsed: string;
  overage: string;
  tenants: UsageResult['tenants'];
}

export interface AccountQuotas {
  accountId: string;
  /** `pooled`: the account's pool (its tenants while pooled); `tenant`: one tenant on its own plan. */
  mode: 'pooled' | 'tenant';
  /** mode `tenant`: the tenant. */
  tenantId?: string;
  planId: string;
  planVersion: number;
  period: { start: string; end: string };
  meters: MeterQuota[];
  /** When the figures were read from the usage store. */
  asOf: string;
}

const SYSTEM_ACTOR = { type: 'service', id: 'aggregation' } as const;

/** What quotas are read against: the account's pool, or a tenant on its own plan. */
type QuotaSubject =
  { mode: 'pooled'; plan: AccountPlan } | { mode: 'tenant'; plan: SubscriptionChangedData; own: TenantPlan };

const toFigures = (u: UsageResult): MeterFigures => ({
  meterKey: u.meter,
  pooled: toQuantity(u.value),
  tenants: u.tenants.map((t) => ({
    tenantId: t.tenantId,
    usage: toQuantity(t.usage),
    contribution: toQuantity(t.contribution),
    events: t.events,
  })),
});

/**
 * Pooled usage against each account's plan for the current period — counting each tenant only
 * while it is pooled — and each own-plan tenant's usage against its own plan and period: read
 * fresh for `GET /quotas`, kept in memory (refreshed in the background) for entitlement checks,
 * and evaluated after the sink writes an account's usage, announcing each threshold crossing once
 * per period on `quota.events.v1` through an event-sourced stream and its outbox.
 */
@Injectable()
export class QuotaService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly store: EventStore;
  private readonly relay: OutboxRelay;
  private readonly plans = new Map<string, { plan: AccountPlan | null; readAt: number }>();
  private readonly cached = new Map<string, { quotas: AccountQuotas; readAt: number }>();
  private readonly refreshing = new Map<string, Promise<AccountQuotas | null>>();
  private readonly planLoads = new Map<string, Promise<AccountPlan | null>>();
  /** Per account, its tenants on their own plans (absent: pooled). */
  private readonly ownPlans = new Map<string, { plans: Map<string, TenantPlan>; readAt: number }>();
  private readonly ownPlanLoads = new Map<string, Promise<Map<string, TenantPlan>>>();
  readonly tenantPlans: TenantPlanStore;
  /** Crossings this instance knows were announced, so repeats skip the database. */
  private readonly announced = new Set<string>();
  private readonly touched = new Set<string>();
  private timer?: NodeJS.Timeout;
  private evaluating?: Promise<void>;

  constructor(
    private readonly planStore: AccountPlanStore,
    private readonly usage: UsageService,
    private readonly meters: MeterCatalogService,
    private readonly config: AggregationConfig,
    kafka: KafkaClient,
    @Inject(OWNER_DATA_SOURCE) db: Database,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.store = new EventStore(db, { source: 'aggregation', topic: QUOTA_EVENTS_TOPIC.name });
    this.tenantPlans = new TenantPlanStore(db);
    this.relay = new OutboxRelay(db, (topic, messages) => kafka.producer().sendRaw(topic, messages), {
      idleMs: 1_000,
      onError: (err) => this.logger.error({ err }, 'quota outbox relay failed; retrying'),
    });
    this.store.onCommitted(() => this.relay.notify());
  }

  onApplicationBootstrap(): void {
    this.relay.start();
    if (this.config.QUOTA_EVAL_INTERVAL_MS > 0) {
      this.timer = setInterval(() => {
        this.evaluating ??= inBackground(() => this.evaluateTouched()).finally(
          () => (this.evaluating = undefined),
        );
      }, this.config.QUOTA_EVAL_INTERVAL_MS);
    }
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.evaluating;
    await this.relay.stop();
  }

  /** The sink wrote usage of these accounts: evaluate them on the next round. */
  touch(accountIds: Iterable<string>): void {
    for (const id of accountIds) this.touched.add(id);
  }

  /** Billing announced a plan change: read the account's plan again. */
  forgetPlan(accountId: string): void {
    this.plans.delete(accountId);
    this.cached.delete(accountId);
    this.touched.add(accountId);
  }

  /**
   * Billing moved a tenant between the pool and its own plan (or changed that plan): record it and
   * read the tenant's plan and the account's pool again.
   */
  async recordTenantChange(
    accountId: string,
    event: { eventId: string; aggregateVersion: number },
    change: TenantSubscriptionChangedData,
  ): Promise<void> {
    await this.tenantPlans.record(accountId, event, change);
    this.ownPlans.delete(accountId);
    this.cached.delete(tenantKey(change.tenantId));
    this.forgetPlan(accountId);
  }

  /**
   * The tenant's own plan in force, or null while it is pooled. Read for the whole account at once
   * and cached like `planOf` (a stale entry answers while one read refreshes it), so an
   * entitlement check costs a map lookup and an account of many tenants one query per refresh.
   */
  async ownPlanOf(tenantId: string, accountId: string, now = Date.now()): Promise<TenantPlan | null> {
    const hit = this.ownPlans.get(accountId);
    if (hit && now - hit.readAt < this.config.QUOTA_REFRESH_MS) return hit.plans.get(tenantId) ?? null;
    let running = this.ownPlanLoads.get(accountId);
    if (!running) {
      running = this.tenantPlans
        .ownPlansAt(accountId, now)
        .then((list) => {
          const plans = new Map(list.map((own) => [own.tenantId, own]));
          this.ownPlans.set(accountId, { plans, readAt: now });
          return plans;
        })
        .finally(() => this.ownPlanLoads.delete(accountId));
      this.ownPlanLoads.set(accountId, running);
    }
    if (!hit) return (await running).get(tenantId) ?? null;
    running.catch((err: unknown) => this.logger.warn({ err, accountId }, 'own plans refresh failed'));
    return hit.plans.get(tenantId) ?? null;
  }

  /** A tenant's usage of its own plan's current period against that plan, read now. */
  async tenantQuotas(tenantId: string, accountId: string, now = Date.now()): Promise<AccountQuotas> {
    const own = await this.ownPlanOf(tenantId, accountId, now);
    if (!own) {
      throw new AppError(
        'not_found',
        'no_own_plan',
        `tenant ${tenantId} has no plan of its own: its usage counts toward its account's pool`,
      );
    }
    const quotas = await this.read({ mode: 'tenant', plan: own.plan, own }, now);
    this.cached.set(tenantKey(tenantId), { quotas, readAt: now });
    return quotas;
  }

  /** The tenant's own quotas from memory for entitlement checks (see `current`). */
  async currentTenant(tenantId: string, accountId: string): Promise<AccountQuotas | null> {
    return this.fromMemory(tenantKey(tenantId), async () =>
      (await this.ownPlanOf(tenantId, accountId)) ? this.tenantQuotas(tenantId, accountId) : null,
    );
  }

  /**
   * The account's plan in force, or null. Cached: a stale entry is answered at once while one
   * background read refreshes it (a plan change also drops it, see `forgetPlan`).
   */
  async planOf(accountId: string, now = Date.now()): Promise<AccountPlan | null> {
    const hit = this.plans.get(accountId);
    if (hit && now - hit.readAt < this.config.QUOTA_REFRESH_MS) return hit.plan;
    const load = this.loadPlan(accountId, now);
    if (!hit) return load;
    load.catch((err: unknown) => this.logger.warn({ err, accountId }, 'plan refresh failed'));
    return hit.plan;
  }

  private loadPlan(accountId: string, now: number): Promise<AccountPlan | null> {
    let running = this.planLoads.get(accountId);
    if (!running) {
      running = this.planStore
        .inForce(now, accountId)
        .then(([plan]) => {
          this.plans.set(accountId, { plan: plan ?? null, readAt: now });
          return plan ?? null;
        })
        .finally(() => this.planLoads.delete(accountId));
      this.planLoads.set(accountId, running);
    }
    return running;
  }

  /** Pooled usage of the current period against the plan, read now. */
  async quotas(accountId: string, now = Date.now()): Promise<AccountQuotas> {
    const plan = await this.planOf(accountId, now);
    if (!plan) {
      throw new AppError('not_found', 'no_subscription', `account ${accountId} has no plan with quotas`);
    }
    const quotas = await this.read({ mode: 'pooled', plan }, now);
    this.cached.set(accountId, { quotas, readAt: now });
    return quotas;
  }

  /**
   * The account's quotas from memory for entitlement checks: read on first use, then refreshed
   * in the background once older than QUOTA_REFRESH_MS, so a check never waits on ClickHouse
   * except the first. Null when the account has no plan.
   */
  async current(accountId: string): Promise<AccountQuotas | null> {
    return this.fromMemory(accountId, async () =>
      (await this.planOf(accountId)) ? this.quotas(accountId) : null,
    );
  }

  private fromMemory(key: string, read: () => Promise<AccountQuotas | null>): Promise<AccountQuotas | null> {
    const hit = this.cached.get(key);
    const now = Date.now();
    if (hit && now - hit.readAt < this.config.QUOTA_REFRESH_MS) return Promise.resolve(hit.quotas);
    // A check waits for the first read only; later refreshes run in the background.
    const refresh = this.refresh(key, hit ? () => inBackground(read) : read);
    return hit ? Promise.resolve(hit.quotas) : refresh;
  }

  /**
   * Announces crossings (capability limits from entitlement checks; pool thresholds from
   * evaluation). With `tenantId`, the crossings of that tenant's own plan, in its own period.
   */
  async announce(
    accountId: string,
    period: BillingPeriod,
    crossings: QuotaCrossing[],
    tenantId?: string,
  ): Promise<void> {
    const streamId = tenantId
      ? `quota:${accountId}:tenant:${tenantId}:${period.startMs}`
      : `quota:${accountId}:${period.startMs}`;
    const fresh = crossings.filter((c) => !this.announced.has(`${streamId}:${crossingId(c)}`));
    if (!fresh.length) return;
    for (let attempt = 1; ; attempt++) {
      try {
        const { state } = await this.store.inScope({ accountId }, (tx) =>
          handleCommand(this.store, tx, quotaPeriodDecider, {
            streamId,
            streamType: 'quota-period',
            command: {
              crossings: fresh,
              periodStart: new Date(period.startMs).toISOString(),
              periodEnd: new Date(period.endMs).toISOString(),
            },
            context: { accountId, actor: SYSTEM_ACTOR },
          }),
        );
        for (const id of state.announced) this.announced.add(`${streamId}:${id}`);
        return;
      } catch (err) {
        // Another instance announced in the meantime: decide again on what it wrote.
        if (!(err instanceof ConcurrencyError) || attempt === 3) throw err;
      }
    }
  }

  private refresh(key: string, read: () => Promise<AccountQuotas | null>): Promise<AccountQuotas | null> {
    let running = this.refreshing.get(key);
    if (!running) {
      running = read().finally(() => this.refreshing.delete(key));
      this.refreshing.set(key, running);
    }
    return running;
  }

  private async evaluateTouched(): Promise<void> {
    const accounts = [...this.touched];
    this.touched.clear();
    for (const accountId of accounts) {
      try {
        const now = Date.now();
        // The pool first, then the tenants on their own plans, each against its own allowances.
        const plan = await this.planOf(accountId);
        if (plan)
          await this.announce(accountId, periodOf(plan, now), crossingsOf(await this.quotas(accountId, now)));
        for (const own of await this.tenantPlans.ownPlansAt(accountId, now)) {
          const quotas = await this.tenantQuotas(own.tenantId, accountId, now);
          await this.announce(accountId, periodOf(own.plan, now), crossingsOf(quotas), own.tenantId);
        }
      } catch (err) {
        this.touched.add(accountId);
        this.logger.warn({ err, accountId }, 'quota evaluation failed; retrying');
      }
    }
  }

  /**
   * The usage of the subject's current period: the pool's counts each tenant only while it is
   * pooled (libs/billing-math `pooledUsage`, the rule billing invoices by); a tenant's own plan
   * counts that tenant from the start of its own plan on.
   */
  private async usageOf(subject: QuotaSubject, accountId: string, period: BillingPeriod) {
    const meterKeys = subject.plan.meters.map((m) => m.meterKey);
    const read: UsageReader = (request) =>
      Promise.all(
        request.meterKeys.map(async (meter) =>
          toFigures(
            await this.usage.usage({
              meter,
              accountId,
              fromMs: request.fromMs,
              toMs: request.toMs,
              ...(request.tenantIds ? { tenantIds: request.tenantIds } : {}),
            }),
          ),
        ),
      );
    const range = { fromMs: period.startMs, toMs: period.endMs };
    if (subject.mode === 'tenant') {
      const own = clipRange(range, { fromMs: subject.own.sinceMs, toMs: subject.own.untilMs });
      if (!own) return meterKeys.map((meterKey): MeterFigures => ({ meterKey, pooled: 0n, tenants: [] }));
      return read({ ...own, meterKeys, tenantIds: [subject.own.tenantId] });
    }
    return pooledUsage({
      read,
      meterKeys,
      range,
      spans: await this.tenantPlans.ownSpans(accountId),
      meterKinds: () => Promise.all(meterKeys.map((key) => this.meters.get(key))),
    });
  }

  private async read(subject: QuotaSubject, now: number): Promise<AccountQuotas> {
    const { plan } = subject;
    const accountId = subject.mode === 'pooled' ? subject.plan.accountId : subject.own.accountId;
    const period = periodOf(plan, now);
    const figures = await this.usageOf(subject, accountId, period);
    const meters: MeterQuota[] = [];
    for (const [i, allowance] of plan.meters.entries()) {
      const usage = figures[i];
      const used = usage.pooled;
      const included = toQuantity(allowance.included);
      meters.push({
        meter: allowance.meterKey,
        included: formatQuantity(included),
        ...(allowance.hardCap ? { hardCap: formatQuantity(toQuantity(allowance.hardCap)) } : {}),
        used: formatQuantity(used),
        remaining: formatQuantity(included > used ? included - used : 0n),
        percentUsed: percentOf(used, included),
        overage: formatQuantity(used > included ? used - included : 0n),
        tenants: usage.tenants.map((t) => ({
          tenantId: t.tenantId,
          usage: formatQuantity(t.usage),
          contribution: formatQuantity(t.contribution),
          events: t.events,
        })),
      });
    }
    return {
      accountId,
      mode: subject.mode,
      ...(subject.mode === 'tenant' ? { tenantId: subject.own.tenantId } : {}),
      planId: plan.planId,
      planVersion: plan.planVersion,
      period: { start: new Date(period.startMs).toISOString(), end: new Date(period.endMs).toISOString() },
      meters,
      asOf: new Date(now).toISOString(),
    };
  }
}

const tenantKey = (tenantId: string) => `tenant:${tenantId}`;

function crossingsOf(quotas: AccountQuotas): QuotaCrossing[] {
  return quotas.meters.flatMap((m) =>
    reachedThresholds(toQuantity(m.used), toQuantity(m.included)).map((threshold): QuotaCrossing => ({
      scope: 'pool',
      key: m.meter,
      ...(quotas.tenantId ? { tenantId: quotas.tenantId } : {}),
      threshold,
      used: m.used,
      allowance: m.included,
      percent: m.percentUsed,
    })),
  );
}

export function periodOf(plan: Pick<AccountPlan, 'anchorDay' | 'timezone'>, atMs: number): BillingPeriod {
  return new BillingCalendar({ anchorDay: plan.anchorDay, timeZone: plan.timezone }).periodAt(atMs);
}
