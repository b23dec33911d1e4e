import { type DynamicModule, Module } from '@nestjs/common';
import { KafkaModule } from '@metering/kafka';
import { PersistenceModule } from '@metering/persistence';
import type { AuditConfig } from './config';

@Module({})
export class AppModule {
  static forRoot(config: AuditConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        KafkaModule.forRoot({ brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-audit` }),
        PersistenceModule.forRoot({ url: config.DATABASE_URL }),
      ],
    };
  }
}
