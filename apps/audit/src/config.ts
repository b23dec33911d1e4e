import { DatabaseServiceConfig } from '@metering/config';

export class AuditConfig extends DatabaseServiceConfig {
  override PORT: number = 3005;
  override DATABASE_URL: string = 'postgres://postgres@127.0.0.1:5432/metering_audit';
}
