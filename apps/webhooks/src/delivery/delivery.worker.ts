import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { LOGGER, Metrics, type Logger } from '@metering/observability';
import type { AttemptResult, ClaimedDelivery } from '@metering/webhooks-data-access';
import { deliveryHeaders } from '@metering/webhooks-domain';
import { WebhooksConfig } from '../config';
import { WebhooksService } from '../webhooks.service';

const DAY_MS = 86_400_000;
const PRUNE_INTERVAL_MS = 3_600_000;

/**
 * Sends due deliveries. Postgres is the queue: the worker leases due deliveries (a lease per
 * attempt, `FOR UPDATE SKIP LOCKED`, so any number of instances share the work), POSTs each
 * signed at the moment it is sent, and records the result before the lease runs out. A process
 * killed mid-attempt loses nothing: the delivery is due again when its lease expires, and the
 * unfinished attempt is logged as interrupted. Up to WEBHOOK_WORKER_CONCURRENCY attempts run at
 * once, at most WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT per endpoint.
 */
@Injectable()
export class DeliveryWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private running = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private readonly inFlight = new Map<string, number>();
  private readonly attempts = new Set<Promise<void>>();
  private pruneTimer?: NodeJS.Timeout;
  private readonly attemptsTotal;
  private readonly attemptSeconds;
  private readonly disabledTotal;

  constructor(
    private readonly webhooks: WebhooksService,
    private readonly config: WebhooksConfig,
    metrics: Metrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.attemptsTotal = metrics.counter('webhook_attempts_total', 'Delivery attempts by result', [
      'outcome',
    ]);
    this.attemptSeconds = metrics.histogram(
      'webhook_attempt_seconds',
      'Duration of delivery attempts',
      [],
      [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    );
    this.disabledTotal = metrics.counter(
      'webhook_endpoints_disabled_total',
      'Endpoints disabled for failing persistently',
      [],
    );
  }

  onApplicationBootstrap(): void {
    this.running = true;
    this.loop = this.run();
    this.pruneTimer = setInterval(() => void this.prune(), PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
  }

  /** Stops claiming, then lets the attempts in flight finish and be recorded. */
  async onModuleDestroy(): Promise<void> {
    this.running = false;
    clearInterval(this.pruneTimer);
    this.wake?.();
    await this.loop;
    await Promise.all([...this.attempts]);
  }

  /** New deliveries were recorded: look for due ones now rather than at the next poll. */
  notify(): void {
    this.wake?.();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      const free = this.config.WEBHOOK_WORKER_CONCURRENCY - this.attempts.size;
      let claimed = 0;
      if (free > 0) {
        try {
          const due = await this.webhooks.store.claimDue({
            limit: free,
            perEndpoint: this.config.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT,
            inFlight: this.inFlight,
          });
          for (const delivery of due) this.start(delivery);
          claimed = due.length;
          failures = 0;
        } catch (err) {
          failures++;
          this.logger.error({ err }, 'claiming due deliveries failed; retrying');
        }
      }
      // A full claim means more may be due: claim again at once (as slots free up).
      if (claimed > 0 && claimed === free) continue;
      const delay = failures
        ? Math.min(this.config.WEBHOOK_POLL_INTERVAL_MS * 2 ** failures, 30_000)
        : this.config.WEBHOOK_POLL_INTERVAL_MS;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  private start(delivery: ClaimedDelivery): void {
    const endpoint = delivery.endpointId;
    this.inFlight.set(endpoint, (this.inFlight.get(endpoint) ?? 0) + 1);
    const attempt = this.attempt(delivery).finally(() => {
      const left = (this.inFlight.get(endpoint) ?? 1) - 1;
      if (left > 0) this.inFlight.set(endpoint, left);
      else this.inFlight.delete(endpoint);
      this.attempts.delete(attempt);
      this.wake?.();
    });
    this.attempts.add(attempt);
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const result: AttemptResult =
      delivery.secret === undefined
        ? {
            error:
              'the signing secret cannot be opened: WEBHOOK_SECRET_KEY is not the key it was sealed with',
            latencyMs: 0,
          }
        : await this.webhooks.transport.post(
            delivery.url,
            deliveryHeaders({
              deliveryId: delivery.id,
              eventId: delivery.eventId,
              eventType: delivery.eventType,
              attempt: delivery.attempt,
              secret: delivery.secret,
              body: delivery.body,
              timestampSec: Math.floor(Date.now() / 1000),
            }),
            delivery.body,
          );
    this.attemptSeconds.observe(result.latencyMs / 1000);
    const context = {
      deliveryId: delivery.id,
      endpointId: delivery.endpointId,
      accountId: delivery.accountId,
    };
    try {
      const recorded = await this.webhooks.store.recordAttempt(delivery, result);
      const outcome = recorded.step === 'lost' ? 'lost' : recorded.step.status;
      this.attemptsTotal.inc({ outcome });
      if (recorded.step === 'lost')
        this.logger.warn(
          { ...context, attempt: delivery.attempt },
          'delivery taken over before its attempt was recorded',
        );
      if (recorded.endpointDisabled) {
        this.disabledTotal.inc();
        this.logger.warn(
          { ...context, lastError: result.error ?? result.statusCode },
          'webhook endpoint disabled: failing',
        );
      }
    } catch (err) {
      // Not recorded: the lease runs out and the delivery is attempted again.
      this.logger.error({ err, ...context }, 'recording an attempt failed; it will be retried');
    }
  }

  private async prune(): Promise<void> {
    try {
      const removed = await this.webhooks.store.prune(this.config.WEBHOOK_LOG_RETENTION_DAYS * DAY_MS);
      if (removed) this.logger.info({ removed }, 'pruned finished deliveries past retention');
    } catch (err) {
      this.logger.error({ err }, 'pruning deliveries failed');
    }
  }
}
