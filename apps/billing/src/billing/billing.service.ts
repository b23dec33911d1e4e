import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { UsageClient } from '@metering/aggregation-client';
import { BillingRunner, BillingStore, type Caller } from '@metering/billing-data-access';
import { BILLING_EVENTS_TOPIC } from '@metering/contracts';
import { EventStore, OutboxRelay } from '@metering/event-store';
import { KafkaClient } from '@metering/kafka';
import { BillingError, BillingErrorCode } from '@metering/billing-domain';
import { LOGGER, type Logger } from '@metering/observability';
import { APP_DATA_SOURCE, OWNER_DATA_SOURCE, type Database } from '@metering/persistence';
import { RegistryClient, type ManagementPrincipal, type TenantInfo } from '@metering/registry-client';
import { BillingConfig } from '../config';
import { ownAccount } from './caller';

const SCHEDULER: Caller = { scope: 'all-accounts', actor: { type: 'system', id: 'billing-scheduler' } };

/**
 * Wiring of billing: the store on the row-level-security connection, the outbox relay to
 * `billing.events.v1` on the owner connection, the runner over aggregation's period usage, and
 * the scheduled billing run.
 */
@Injectable()
export class BillingService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly store: BillingStore;
  readonly runner: BillingRunner;
  private readonly relay: OutboxRelay;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    @Inject(APP_DATA_SOURCE) app: Database,
    @Inject(OWNER_DATA_SOURCE) owner: Database,
    kafka: KafkaClient,
    readonly usage: UsageClient,
    private readonly registry: RegistryClient,
    private readonly config: BillingConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    const events = new EventStore(app, { source: 'billing', topic: BILLING_EVENTS_TOPIC.name });
    this.store = new BillingStore(events, { stripeSync: config.STRIPE_SECRET_KEY !== '' });
    this.runner = new BillingRunner(
      this.store,
      {
        periodUsage: async (request) => usage.periodUsage(request),
        meterKinds: () => usage.meterKinds(),
      },
      config.BILLING_RUN_CONCURRENCY,
    );
    this.relay = new OutboxRelay(owner, (topic, messages) => kafka.producer().sendRaw(topic, messages), {
      idleMs: 1_000,
      onError: (err) => this.logger.error({ err }, 'outbox relay failed; retrying'),
    });
    // Every committed write wakes the relay, so its events leave at once.
    events.onCommitted(() => this.relay.notify());
  }

  /**
   * The store's caller for a request about a tenant, with the tenant (from the registry): another
   * account's tenant is not found; `active` refuses deleted and purged tenants.
   */
  async tenantCaller(
    principal: ManagementPrincipal,
    tenantId: string,
    options: { active?: boolean } = {},
  ): Promise<{ caller: Caller; tenant: TenantInfo }> {
    const tenant = await this.registry.getTenant(tenantId);
    if (!tenant || (principal.accountId && principal.accountId !== tenant.accountId)) {
      throw new BillingError(BillingErrorCode.TENANT_NOT_FOUND, `no tenant ${tenantId}`);
    }
    if (options.active && (tenant.status === 'deleted' || tenant.status === 'purged')) {
      throw new BillingError(BillingErrorCode.TENANT_NOT_ACTIVE, `tenant ${tenantId} is ${tenant.status}`);
    }
    return { caller: ownAccount(principal, tenant.accountId), tenant };
  }

  onApplicationBootstrap(): void {
    this.relay.start();
    if (this.config.BILLING_RUN_INTERVAL_MS > 0) {
      this.timer = setInterval(() => void this.scheduledRun(), this.config.BILLING_RUN_INTERVAL_MS);
    }
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.relay.stop();
    this.usage.close();
  }

  /** One scheduled run at a time; failures are logged and the next tick retries. */
  private async scheduledRun(): Promise<void> {
    if (this.running) return;
    this.running = (async () => {
      try {
        // Accounts another run of this process is billing, or billed less than an interval ago,
        // wait for the next tick: two runs re-rating the same drafts at once double the work.
        const result = await this.runner.run(SCHEDULER, Date.now(), undefined, {
          skipRecentMs: this.config.BILLING_RUN_INTERVAL_MS,
        });
        const changed = result.accounts.flatMap((a) => a.invoices.filter((i) => i.outcome !== 'unchanged'));
        if (changed.length || result.failed.length) {
          this.logger.info({ changed, failed: result.failed }, 'scheduled billing run');
        }
      } catch (err) {
        this.logger.error({ err }, 'scheduled billing run failed');
      }
    })().finally(() => (this.running = undefined));
    await this.running;
  }
}
