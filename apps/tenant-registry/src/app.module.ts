import { type DynamicModule, Module } from '@nestjs/common';
import { KafkaModule } from '@metering/kafka';
import { PersistenceModule } from '@metering/persistence';
import { registryMigrations } from '@metering/registry-data-access';
import { AccountsController } from './accounts/accounts.controller';
import { ApiKeysController } from './api-keys/api-keys.controller';
import { ManagementAuthGuard } from './auth/management-auth.guard';
import type { TenantRegistryConfig } from './config';
import { KeyVerifier } from './grpc/key-verifier';
import { RegistryGrpcServer } from './grpc/registry.grpc-server';
import { ManagementKeysController } from './management-keys/management-keys.controller';
import { RegistryService } from './registry/registry.service';
import { TemplatesController } from './templates/templates.controller';
import { TenantsController } from './tenants/tenants.controller';

@Module({})
export class AppModule {
  static forRoot(config: TenantRegistryConfig): DynamicModule {
    const appRole = { name: config.DATABASE_APP_ROLE, password: config.DATABASE_APP_PASSWORD };
    return {
      module: AppModule,
      imports: [
        KafkaModule.forService(config, 'tenant-registry'),
        PersistenceModule.forRoot({
          url: config.DATABASE_URL,
          queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS,
          migrations: registryMigrations({ appRole: appRole.name, appPassword: appRole.password }),
          appRole,
        }),
      ],
      controllers: [
        AccountsController,
        TenantsController,
        TemplatesController,
        ApiKeysController,
        ManagementKeysController,
      ],
      providers: [RegistryService, KeyVerifier, ManagementAuthGuard, RegistryGrpcServer],
    };
  }
}
