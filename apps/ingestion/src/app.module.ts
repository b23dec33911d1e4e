import { type DynamicModule, Module } from '@nestjs/common';
import { ClosedPeriods, INGESTION_MIGRATIONS, IdempotencyLedger } from '@metering/ingestion-data-access';
import { KafkaModule } from '@metering/kafka';
import { OWNER_DATA_SOURCE, PersistenceModule, type Database } from '@metering/persistence';
import { TenantAuthService } from './auth/tenant-auth.service';
import { ClosedPeriodsService } from './closed-periods/closed-periods.service';
import { IngestionConfig } from './config';
import { EventsController } from './events/events.controller';
import { DirectIntakeConsumer } from './direct/direct-intake.consumer';
import { EventsService } from './events/events.service';
import { TenantRateLimiter } from './events/tenant-rate-limiter';
import { IngestionGrpcServer } from './grpc/ingestion.grpc-server';

@Module({})
export class AppModule {
  static forRoot(config: IngestionConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        PersistenceModule.forRoot({
          url: config.DATABASE_URL,
          queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS,
          migrations: INGESTION_MIGRATIONS,
        }),
        KafkaModule.forService(config, 'ingestion'),
      ],
      controllers: [EventsController],
      providers: [
        EventsService,
        ClosedPeriodsService,
        TenantAuthService,
        IngestionGrpcServer,
        DirectIntakeConsumer,
        {
          // One per process, shared by every way in and by the check made before a body is read.
          provide: TenantRateLimiter,
          inject: [IngestionConfig],
          useFactory: (c: IngestionConfig) =>
            new TenantRateLimiter(c.INGEST_TENANT_EVENTS_PER_SECOND, c.INGEST_TENANT_BURST_EVENTS),
        },
        {
          provide: IdempotencyLedger,
          inject: [OWNER_DATA_SOURCE],
          useFactory: (db: Database) => new IdempotencyLedger(db),
        },
        {
          provide: ClosedPeriods,
          inject: [OWNER_DATA_SOURCE],
          useFactory: (db: Database) => new ClosedPeriods(db),
        },
      ],
    };
  }
}
