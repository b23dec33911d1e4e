import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { WEBHOOKS_EVENTS_TOPIC } from '@metering/contracts';
import { EventStore, OutboxRelay } from '@metering/event-store';
import { KafkaClient } from '@metering/kafka';
import { LOGGER, type Logger } from '@metering/observability';
import { APP_DATA_SOURCE, OWNER_DATA_SOURCE, type Database } from '@metering/persistence';
import { WebhookStore, WebhookTransport } from '@metering/webhooks-data-access';
import { AddressPolicy, SecretBox } from '@metering/webhooks-domain';
import { DEVELOPMENT_SECRET_KEY, WebhooksConfig } from './config';

/** Time an attempt may need beyond its HTTP timeout (signing, recording) before its lease runs out. */
const LEASE_MARGIN_MS = 5_000;

/**
 * Wiring of the webhooks service: the store on the row-level-security connection, the outbox
 * relay to `webhooks.events.v1` on the owner connection, and the outbound HTTP transport with
 * the configured address policy.
 */
@Injectable()
export class WebhooksService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly store: WebhookStore;
  readonly transport: WebhookTransport;
  private readonly relay: OutboxRelay;

  constructor(
    @Inject(APP_DATA_SOURCE) app: Database,
    @Inject(OWNER_DATA_SOURCE) owner: Database,
    kafka: KafkaClient,
    config: WebhooksConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    if (config.WEBHOOK_SECRET_KEY === DEVELOPMENT_SECRET_KEY)
      logger.warn('WEBHOOK_SECRET_KEY is the development key: signing secrets are not protected at rest');
    const events = new EventStore(app, { source: 'webhooks', topic: WEBHOOKS_EVENTS_TOPIC.name });
    this.store = new WebhookStore(events, {
      secrets: new SecretBox(config.WEBHOOK_SECRET_KEY),
      retry: {
        baseDelayMs: config.WEBHOOK_RETRY_BASE_MS,
        maxDelayMs: config.WEBHOOK_RETRY_MAX_MS,
        horizonMs: config.WEBHOOK_RETRY_HORIZON_MS,
      },
      disable: {
        minConsecutiveFailures: config.WEBHOOK_DISABLE_AFTER_FAILURES,
        failingForMs: config.WEBHOOK_DISABLE_AFTER_MS,
      },
      maxEndpointsPerAccount: config.WEBHOOK_MAX_ENDPOINTS_PER_ACCOUNT,
      leaseMs: config.WEBHOOK_TIMEOUT_MS + LEASE_MARGIN_MS,
    });
    this.transport = new WebhookTransport({
      policy: new AddressPolicy(config.WEBHOOK_ALLOWED_PRIVATE_NETWORKS),
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      maxResponseBytes: config.WEBHOOK_MAX_RESPONSE_BYTES,
    });
    this.relay = new OutboxRelay(owner, (topic, messages) => kafka.producer().sendRaw(topic, messages), {
      idleMs: 1_000,
      onError: (err) => logger.error({ err }, 'outbox relay failed; retrying'),
    });
    // Every committed change wakes the relay, so its event leaves at once.
    events.onCommitted(() => this.relay.notify());
  }

  onApplicationBootstrap(): void {
    this.relay.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.relay.stop();
  }
}
