import { type DynamicModule, Module } from '@nestjs/common';
import {
  AGGREGATION_MIGRATIONS,
  AccountPlanStore,
  MeterStore,
  RollupLedger,
} from '@metering/aggregation-data-access';
import { ClickHouseModule } from '@metering/clickhouse';
import { KafkaModule } from '@metering/kafka';
import { OWNER_DATA_SOURCE, PersistenceModule, type Database } from '@metering/persistence';
import { ManagementKeyGuard, RegistryClient } from '@metering/registry-client';
import { CLICKHOUSE_MIGRATIONS_DIR } from './clickhouse/usage-events.table';
import type { AggregationConfig } from './config';
import { UsageGrpcServer } from './grpc/usage.grpc-server';
import { MeterCatalogService } from './meters/meter-catalog.service';
import { MetersController } from './meters/meters.controller';
import { EntitlementService } from './quotas/entitlement.service';
import { PlanChangesConsumer } from './quotas/plan-changes.consumer';
import { QuotaService } from './quotas/quota.service';
import { QuotasController } from './quotas/quotas.controller';
import { RegistryChangesFollower } from './quotas/registry-changes.follower';
import { ReconciliationController } from './reconciliation/reconciliation.controller';
import { ReconciliationService } from './reconciliation/reconciliation.service';
import { RollupWorker } from './rollups/rollup.worker';
import { UsageSinkConsumer } from './sink/usage-sink.consumer';
import { UsageController } from './usage/usage.controller';
import { UsageService } from './usage/usage.service';

@Module({})
export class AppModule {
  static forRoot(config: AggregationConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        PersistenceModule.forRoot({
          url: config.DATABASE_URL,
          queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS,
          migrations: AGGREGATION_MIGRATIONS,
        }),
        KafkaModule.forService(config, 'aggregation'),
        ClickHouseModule.forRoot({
          url: config.CLICKHOUSE_URL,
          database: config.CLICKHOUSE_DATABASE,
          username: config.CLICKHOUSE_USER,
          password: config.CLICKHOUSE_PASSWORD,
          migrationsDir: CLICKHOUSE_MIGRATIONS_DIR,
        }),
      ],
      controllers: [MetersController, UsageController, QuotasController, ReconciliationController],
      providers: [
        MeterCatalogService,
        EntitlementService,
        PlanChangesConsumer,
        QuotaService,
        ReconciliationService,
        RegistryChangesFollower,
        RollupWorker,
        UsageGrpcServer,
        UsageSinkConsumer,
        UsageService,
        ManagementKeyGuard,
        {
          provide: MeterStore,
          inject: [OWNER_DATA_SOURCE],
          useFactory: (db: Database) => new MeterStore(db),
        },
        {
          provide: AccountPlanStore,
          inject: [OWNER_DATA_SOURCE],
          useFactory: (db: Database) => new AccountPlanStore(db),
        },
        {
          provide: RollupLedger,
          inject: [OWNER_DATA_SOURCE],
          useFactory: (db: Database) => new RollupLedger(db),
        },
        {
          provide: RegistryClient,
          useFactory: () =>
            new RegistryClient({
              url: config.REGISTRY_GRPC_URL,
              cacheTtlMs: config.KEY_CACHE_TTL_MS,
              tenantCacheTtlMs: config.TENANT_CACHE_TTL_MS,
            }),
        },
      ],
    };
  }
}
