import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { ChainSigner } from '@metering/audit-domain';
import { AuditStore } from '@metering/audit-data-access';
import { LOGGER, type Logger } from '@metering/observability';
import { OWNER_STORE } from '../audit.tokens';
import { AuditConfig } from '../config';

/**
 * Retention, on the owner's connection (the app role may not delete): every interval, each
 * account's entries past its retention are pruned behind a signed checkpoint. Tenant purges
 * never reach here: only an account's own retention setting removes entries.
 */
@Injectable()
export class PruneJob implements OnApplicationBootstrap, OnModuleDestroy {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    @Inject(OWNER_STORE) private readonly store: AuditStore,
    private readonly signer: ChainSigner,
    private readonly config: AuditConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.running ??= this.run().finally(() => (this.running = undefined));
    }, this.config.AUDIT_PRUNE_INTERVAL_MS);
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async run(): Promise<void> {
    try {
      for (const p of await this.store.pruneExpired(this.signer))
        this.logger.info(
          { accountId: p.accountId, throughSeq: p.throughSeq, entries: p.entries },
          'audit entries pruned',
        );
    } catch (err) {
      this.logger.error({ err }, 'audit retention pruning failed; retrying next interval');
    }
  }
}
