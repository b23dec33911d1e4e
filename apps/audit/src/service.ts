import type { ServiceDefinition } from '@metering/service-kit';
import { AppModule } from './app.module';
import { AuditConfig } from './config';

export const auditService: ServiceDefinition<AuditConfig> = {
  name: 'audit',
  description: 'Append-only, hash-chained audit log of every domain event; query, export and verify.',
  configClass: AuditConfig,
  module: (config) => AppModule.forRoot(config),
};
