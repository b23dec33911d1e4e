import type { ServiceDefinition } from '@metering/service-kit';
import { AppModule } from './app.module';
import { TenantRegistryConfig } from './config';

export const tenantRegistryService: ServiceDefinition<TenantRegistryConfig> = {
  name: 'tenant-registry',
  description:
    'Accounts, tenants, templates, limits, keys and roles (event-sourced); publishes registry.events.v1. Authenticate with `Authorization: Bearer <management key>`.',
  configClass: TenantRegistryConfig,
  module: (config) => AppModule.forRoot(config),
  bodyLimit: () => 4 * 1_048_576,
};
