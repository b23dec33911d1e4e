import { type DynamicModule, Module } from '@nestjs/common';
import { KafkaModule } from '@metering/kafka';
import { PersistenceModule } from '@metering/persistence';
import type { BillingConfig } from './config';

@Module({})
export class AppModule {
  static forRoot(config: BillingConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        KafkaModule.forRoot({ brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-billing` }),
        PersistenceModule.forRoot({ url: config.DATABASE_URL }),
      ],
    };
  }
}
