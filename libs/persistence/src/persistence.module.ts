import { type DynamicModule, Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { HealthRegistry } from '@metering/observability';
import { createDataSource, openDatabase, type DatabaseOptions } from './database';

/** The request-path connection: a login role that is not the owner, so row-level security applies. */
export const APP_DATA_SOURCE = Symbol('APP_DATA_SOURCE');
/** The owner connection (migrations, relays, rebuilds, system jobs). */
export const OWNER_DATA_SOURCE = Symbol('OWNER_DATA_SOURCE');

/** A database connection, as apps see it without importing the ORM. */
export type Database = DataSource;

export interface PersistenceModuleOptions extends DatabaseOptions {
  /** When set, APP_DATA_SOURCE connects as this role (created by the service's migrations). */
  appRole?: { name: string; password: string };
}

/** The service's URL with another role's credentials. */
export function urlForRole(url: string, role: { name: string; password: string }): string {
  const parsed = new URL(url);
  parsed.username = role.name;
  parsed.password = role.password;
  return parsed.toString();
}

/** The service's Postgres database as a TypeORM DataSource, migrated at boot, with a readiness check. */
@Global()
@Module({})
export class PersistenceModule implements OnApplicationShutdown {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(APP_DATA_SOURCE) private readonly appDataSource: DataSource,
  ) {}

  static forRoot(options: PersistenceModuleOptions): DynamicModule {
    const appRole = options.appRole;
    return {
      module: PersistenceModule,
      providers: [
        { provide: OWNER_DATA_SOURCE, useExisting: DataSource },
        {
          provide: APP_DATA_SOURCE,
          // Depends on DataSource so migrations (which create the role) have run first.
          inject: [DataSource],
          useFactory: async (owner: DataSource) => {
            if (!appRole) return owner;
            const app = createDataSource({
              url: urlForRole(options.url, appRole),
              poolSize: options.poolSize,
              queryTimeoutMs: options.queryTimeoutMs,
            });
            await app.initialize();
            return app;
          },
        },
        {
          provide: DataSource,
          inject: [HealthRegistry],
          useFactory: async (health: HealthRegistry) => {
            const dataSource = await openDatabase(options);
            health.register({
              name: 'postgres',
              check: async () => {
                await dataSource.query('SELECT 1');
              },
            });
            return dataSource;
          },
        },
      ],
      exports: [DataSource, APP_DATA_SOURCE, OWNER_DATA_SOURCE],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.appDataSource !== this.dataSource && this.appDataSource.isInitialized)
      await this.appDataSource.destroy();
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}
