import { type DynamicModule, Global, Inject, Module, type OnModuleDestroy } from '@nestjs/common';
import { HealthRegistry, LOGGER, Metrics, type Logger } from '@metering/observability';
import { KafkaClient } from './kafka-client';

export interface KafkaModuleOptions {
  brokers: string[];
  clientId: string;
  sessionTimeoutMs?: number;
}

/**
 * Provides the process's KafkaClient with logging, metrics and a readiness check. Consumers stop
 * in onModuleDestroy, before stores close (onApplicationShutdown), so an in-flight batch can
 * finish its write and commit.
 */
@Global()
@Module({})
export class KafkaModule implements OnModuleDestroy {
  constructor(@Inject(KafkaClient) private readonly client: KafkaClient) {}

  /** The client of one service from the variables every service reads (ServiceConfig). */
  static forService(
    config: { KAFKA_BROKERS: string[]; KAFKA_CLIENT_ID: string; KAFKA_SESSION_TIMEOUT_MS: number },
    service: string,
  ): DynamicModule {
    return KafkaModule.forRoot({
      brokers: config.KAFKA_BROKERS,
      clientId: `${config.KAFKA_CLIENT_ID}-${service}`,
      sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    });
  }

  static forRoot(options: KafkaModuleOptions): DynamicModule {
    return {
      module: KafkaModule,
      providers: [
        {
          provide: KafkaClient,
          inject: [LOGGER, Metrics, HealthRegistry],
          useFactory: (logger: Logger, metrics: Metrics, health: HealthRegistry) => {
            const batches = metrics.histogram('kafka_batch_seconds', 'Time to process and commit one batch', [
              'topic',
            ]);
            const messages = metrics.counter(
              'kafka_messages_consumed_total',
              'Messages consumed and committed',
              ['topic'],
            );
            const dead = metrics.counter('kafka_messages_dead_lettered_total', 'Messages sent to a DLQ', [
              'topic',
            ]);
            const failures = metrics.counter('kafka_handler_failures_total', 'Batch handler failures', [
              'topic',
            ]);
            const client = new KafkaClient({
              ...options,
              logger: logger.child({ component: 'kafka' }),
              instrumentation: {
                batchProcessed: (topic, count, seconds) => {
                  batches.observe({ topic }, seconds);
                  messages.inc({ topic }, count);
                },
                deadLettered: (topic, count) => dead.inc({ topic }, count),
                handlerFailed: (topic) => failures.inc({ topic }),
              },
            });
            health.register({ name: 'kafka', check: () => client.check() });
            return client;
          },
        },
      ],
      exports: [KafkaClient],
    };
  }

  async onModuleDestroy(): Promise<void> {
    await this.client.close();
  }
}
