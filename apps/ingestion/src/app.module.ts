import { type DynamicModule, Module } from '@nestjs/common';
import { KafkaModule } from '@metering/kafka';
import { TenantAuthService } from './auth/tenant-auth.service';
import type { IngestionConfig } from './config';
import { EventsController } from './events/events.controller';
import { EventsService } from './events/events.service';

@Module({})
export class AppModule {
  static forRoot(config: IngestionConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        KafkaModule.forRoot({
          brokers: config.KAFKA_BROKERS,
          clientId: `${config.KAFKA_CLIENT_ID}-ingestion`,
        }),
      ],
      controllers: [EventsController],
      providers: [EventsService, TenantAuthService],
    };
  }
}
