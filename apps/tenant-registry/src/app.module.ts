import { type DynamicModule, Module } from '@nestjs/common';
import { KafkaModule } from '@metering/kafka';
import { PersistenceModule } from '@metering/persistence';
import type { TenantRegistryConfig } from './config';

@Module({})
export class AppModule {
  static forRoot(config: TenantRegistryConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        KafkaModule.forRoot({
          brokers: config.KAFKA_BROKERS,
          clientId: `${config.KAFKA_CLIENT_ID}-tenant-registry`,
        }),
        PersistenceModule.forRoot({ url: config.DATABASE_URL }),
      ],
    };
  }
}
