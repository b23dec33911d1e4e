import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { StripeBilling, createStripeClient } from '@metering/billing-data-access';
import { LOGGER, type Logger } from '@metering/observability';
import { BillingService } from '../billing/billing.service';
import { BillingConfig } from '../config';

const IDLE_MS = 1_000;

/**
 * Stripe wiring (only when `STRIPE_SECRET_KEY` is set): the client, and the worker that pushes
 * finalized invoices from `stripe_invoice_sync` — at once while work is due, else every second.
 */
@Injectable()
export class StripeService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly stripe: StripeBilling;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    billing: BillingService,
    config: BillingConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    const client = createStripeClient({
      secretKey: config.STRIPE_SECRET_KEY,
      ...(config.STRIPE_API_BASE ? { apiBase: config.STRIPE_API_BASE } : {}),
    });
    this.stripe = new StripeBilling(billing.store, client, { webhookSecret: config.STRIPE_WEBHOOK_SECRET });
  }

  onApplicationBootstrap(): void {
    this.schedule(0);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => (this.running = undefined));
    }, delayMs);
  }

  private async tick(): Promise<void> {
    let busy = false;
    try {
      const results = await this.stripe.syncDue();
      busy = results.length > 0;
      for (const r of results.filter((x) => x.error)) {
        this.logger.warn(
          { invoiceId: r.invoiceId, step: r.step, error: r.error },
          'Stripe sync failed; will retry',
        );
      }
    } catch (err) {
      this.logger.error({ err }, 'Stripe sync round failed');
    }
    this.schedule(busy ? 0 : IDLE_MS);
  }
}
