import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { REGISTRY_EVENTS_TOPIC } from '@metering/contracts';
import { EventStore, OutboxRelay, rebuildProjection } from '@metering/event-store';
import { KafkaClient } from '@metering/kafka';
import { LOGGER, type Logger } from '@metering/observability';
import { APP_DATA_SOURCE, OWNER_DATA_SOURCE, type Database } from '@metering/persistence';
import { RegistryStore, registryProjection, type Caller } from '@metering/registry-data-access';
import { issueSecret } from '@metering/registry-domain';
import { TenantRegistryConfig } from '../config';

const SYSTEM: Caller = { scope: 'all-accounts', actor: { type: 'system', id: 'tenant-registry' } };

/**
 * Wiring of the registry's store: requests on the row-level-security connection, the outbox
 * relay and rebuilds on the owner connection, the bootstrap credential and the purge job.
 */
@Injectable()
export class RegistryService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly store: RegistryStore;
  private readonly ownerStore: EventStore;
  private readonly relay: OutboxRelay;
  private purgeTimer?: NodeJS.Timeout;

  constructor(
    @Inject(APP_DATA_SOURCE) app: Database,
    @Inject(OWNER_DATA_SOURCE) owner: Database,
    kafka: KafkaClient,
    private readonly config: TenantRegistryConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    const options = {
      source: 'tenant-registry',
      topic: REGISTRY_EVENTS_TOPIC.name,
      unpublishedFields: ['secretHash'],
    };
    this.store = new RegistryStore(new EventStore(app, options));
    this.ownerStore = new EventStore(owner, options);
    this.relay = new OutboxRelay(owner, (topic, messages) => kafka.producer().sendRaw(topic, messages), {
      idleMs: 1_000,
      onError: (err) => this.logger.error({ err }, 'outbox relay failed; retrying'),
    });
    // Every committed write wakes the relay, so its events leave at once.
    this.store.onCommitted(() => this.relay.notify());
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.ensureBootstrapAdmin();
    this.relay.start();
    this.purgeTimer = setInterval(() => void this.purge(), this.config.PURGE_INTERVAL_MS);
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.purgeTimer);
    await this.relay.stop();
  }

  rebuildReadModels(): Promise<number> {
    return rebuildProjection(this.ownerStore, registryProjection);
  }

  async purge(now = new Date()): Promise<string[]> {
    try {
      const purged = await this.store.purgeDue(SYSTEM, now);
      if (purged.length) this.logger.info({ purged }, 'purged tenants past retention');
      return purged;
    } catch (err) {
      this.logger.error({ err }, 'tenant purge failed');
      return [];
    }
  }

  private async ensureBootstrapAdmin(): Promise<void> {
    const configured = this.config.REGISTRY_BOOTSTRAP_ADMIN_KEY;
    if (configured) {
      await this.store.ensurePlatformAdmin(configured);
      return;
    }
    if (await this.store.hasPlatformAdmin()) return;
    const { secret } = issueSecret('mk');
    await this.store.ensurePlatformAdmin(secret);
    // Shown once, on the console only; the database keeps its hash.
    process.stdout.write(`\nGenerated platform-admin management key (shown once): ${secret}\n\n`);
  }
}
