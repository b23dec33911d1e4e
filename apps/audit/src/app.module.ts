import { type DynamicModule, Module } from '@nestjs/common';
import { ChainSigner } from '@metering/audit-domain';
import { AuditStore, auditMigrations } from '@metering/audit-data-access';
import { KafkaModule } from '@metering/kafka';
import { LOGGER, type Logger } from '@metering/observability';
import { APP_DATA_SOURCE, OWNER_DATA_SOURCE, PersistenceModule, type Database } from '@metering/persistence';
import { ManagementKeyGuard, RegistryClient } from '@metering/registry-client';
import { APP_STORE, OWNER_STORE } from './audit.tokens';
import { DEVELOPMENT_SIGNING_KEY, type AuditConfig } from './config';
import { AuditConsumer } from './consumer/audit.consumer';
import { AuditController } from './log/audit.controller';
import { AuditLogService } from './log/audit-log.service';
import { PruneJob } from './retention/prune.job';

@Module({})
export class AppModule {
  static forRoot(config: AuditConfig): DynamicModule {
    const appRole = { name: config.DATABASE_APP_ROLE, password: config.DATABASE_APP_PASSWORD };
    return {
      module: AppModule,
      imports: [
        KafkaModule.forService(config, 'audit'),
        PersistenceModule.forRoot({
          url: config.DATABASE_URL,
          queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS,
          migrations: auditMigrations({ appRole: appRole.name, appPassword: appRole.password }),
          appRole,
        }),
      ],
      controllers: [AuditController],
      providers: [
        AuditLogService,
        AuditConsumer,
        PruneJob,
        ManagementKeyGuard,
        { provide: APP_STORE, inject: [APP_DATA_SOURCE], useFactory: (db: Database) => new AuditStore(db) },
        {
          provide: OWNER_STORE,
          inject: [OWNER_DATA_SOURCE],
          useFactory: (db: Database) => new AuditStore(db),
        },
        {
          provide: ChainSigner,
          inject: [LOGGER],
          useFactory: (logger: Logger) => {
            if (config.AUDIT_SIGNING_KEY === DEVELOPMENT_SIGNING_KEY)
              logger.warn(
                'AUDIT_SIGNING_KEY is the development key: signed heads prove nothing; set your own',
              );
            return new ChainSigner(config.AUDIT_SIGNING_KEY);
          },
        },
        {
          provide: RegistryClient,
          useFactory: () =>
            new RegistryClient({ url: config.REGISTRY_GRPC_URL, cacheTtlMs: config.KEY_CACHE_TTL_MS }),
        },
      ],
    };
  }
}
