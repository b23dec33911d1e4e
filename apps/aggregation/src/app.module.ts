import { type DynamicModule, Module } from '@nestjs/common';
import { ClickHouseModule } from '@metering/clickhouse';
import { KafkaModule } from '@metering/kafka';
import { ManagementKeyGuard, RegistryClient } from '@metering/registry-client';
import { CLICKHOUSE_MIGRATIONS_DIR } from './clickhouse/usage-events.table';
import type { AggregationConfig } from './config';
import { UsageGrpcServer } from './grpc/usage.grpc-server';
import { MeterCatalogService } from './meters/meter-catalog.service';
import { MetersController } from './meters/meters.controller';
import { UsageSinkConsumer } from './sink/usage-sink.consumer';
import { UsageController } from './usage/usage.controller';
import { UsageService } from './usage/usage.service';

@Module({})
export class AppModule {
  static forRoot(config: AggregationConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        KafkaModule.forRoot({
          brokers: config.KAFKA_BROKERS,
          clientId: `${config.KAFKA_CLIENT_ID}-aggregation`,
        }),
        ClickHouseModule.forRoot({
          url: config.CLICKHOUSE_URL,
          database: config.CLICKHOUSE_DATABASE,
          username: config.CLICKHOUSE_USER,
          password: config.CLICKHOUSE_PASSWORD,
          migrationsDir: CLICKHOUSE_MIGRATIONS_DIR,
        }),
      ],
      controllers: [MetersController, UsageController],
      providers: [
        MeterCatalogService,
        UsageGrpcServer,
        UsageSinkConsumer,
        UsageService,
        ManagementKeyGuard,
        {
          provide: RegistryClient,
          useFactory: () =>
            new RegistryClient({ url: config.REGISTRY_GRPC_URL, cacheTtlMs: config.KEY_CACHE_TTL_MS }),
        },
      ],
    };
  }
}
