import { DatabaseServiceConfig } from '@metering/config';

export class TenantRegistryConfig extends DatabaseServiceConfig {
  override PORT: number = 3001;
  override DATABASE_URL: string = 'postgres://postgres@127.0.0.1:5432/metering_tenant_registry';
}
