import { type DynamicModule, Module } from '@nestjs/common';
import { KafkaModule } from '@metering/kafka';
import { PersistenceModule } from '@metering/persistence';
import { ManagementKeyGuard, RegistryClient } from '@metering/registry-client';
import { webhookMigrations } from '@metering/webhooks-data-access';
import type { WebhooksConfig } from './config';
import { DeliveriesController } from './deliveries/deliveries.controller';
import { DeliveryWorker } from './delivery/delivery.worker';
import { EndpointsController } from './endpoints/endpoints.controller';
import { EndpointsService } from './endpoints/endpoints.service';
import { DomainEventsConsumer } from './events/domain-events.consumer';
import { WebhooksService } from './webhooks.service';

@Module({})
export class AppModule {
  static forRoot(config: WebhooksConfig): DynamicModule {
    const appRole = { name: config.DATABASE_APP_ROLE, password: config.DATABASE_APP_PASSWORD };
    return {
      module: AppModule,
      imports: [
        KafkaModule.forService(config, 'webhooks'),
        PersistenceModule.forRoot({
          url: config.DATABASE_URL,
          queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS,
          migrations: webhookMigrations({ appRole: appRole.name, appPassword: appRole.password }),
          appRole,
        }),
      ],
      controllers: [EndpointsController, DeliveriesController],
      providers: [
        WebhooksService,
        EndpointsService,
        DeliveryWorker,
        DomainEventsConsumer,
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
