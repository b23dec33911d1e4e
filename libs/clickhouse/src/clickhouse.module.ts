import { type DynamicModule, Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { HealthRegistry, LOGGER, type Logger } from '@metering/observability';
import { ClickHouse, type ClickHouseOptions } from './client';
import { migrateClickHouse } from './migrations';

export interface ClickHouseModuleOptions extends ClickHouseOptions {
  /** Directory of numbered .sql migrations applied at boot. */
  migrationsDir?: string;
}

/** The service's ClickHouse database: created and migrated at boot, with a readiness check. */
@Global()
@Module({})
export class ClickHouseModule implements OnApplicationShutdown {
  constructor(@Inject(ClickHouse) private readonly ch: ClickHouse) {}

  static forRoot(options: ClickHouseModuleOptions): DynamicModule {
    return {
      module: ClickHouseModule,
      providers: [
        {
          provide: ClickHouse,
          inject: [HealthRegistry, LOGGER],
          useFactory: async (health: HealthRegistry, logger: Logger) => {
            await ClickHouse.ensureDatabase(options);
            const ch = new ClickHouse(options);
            if (options.migrationsDir) {
              const { applied } = await migrateClickHouse(ch, options.migrationsDir);
              if (applied.length) logger.info({ applied }, 'applied ClickHouse migrations');
            }
            health.register({
              name: 'clickhouse',
              check: async () => {
                if (!(await ch.ping())) throw new Error('ping failed');
              },
            });
            return ch;
          },
        },
      ],
      exports: [ClickHouse],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.ch.close();
  }
}
