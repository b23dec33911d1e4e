import { type DynamicModule, Global, Module } from '@nestjs/common';
import { HealthController, HealthRegistry } from './health';
import { createLogger, type Logger } from './logger';
import { Metrics, MetricsController } from './metrics';

export const LOGGER = Symbol('LOGGER');

/** Logging, health/readiness and Prometheus metrics for one service. */
@Global()
@Module({})
export class ObservabilityModule {
  static forRoot(options: { service: string; logger?: Logger; logLevel?: string }): DynamicModule {
    const logger = options.logger ?? createLogger(options.service, options.logLevel);
    return {
      module: ObservabilityModule,
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: LOGGER, useValue: logger },
        { provide: Metrics, useValue: new Metrics(options.service) },
        HealthRegistry,
      ],
      exports: [LOGGER, Metrics, HealthRegistry],
    };
  }
}
