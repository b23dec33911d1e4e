import type { ServiceConfig } from '@metering/config';
import type { ServiceDefinition } from '@metering/service-kit';
import { AppModule } from './app.module';
import { DashboardConfig } from './config';

export const dashboardService: ServiceDefinition<DashboardConfig & ServiceConfig> = {
  name: 'dashboard',
  description:
    "Finance dashboard: a single page over the services' REST APIs, read through a same-origin proxy with the caller's management key.",
  // runService reads PORT, LOG_LEVEL and SHUTDOWN_TIMEOUT_MS, which DashboardConfig declares; the
  // Kafka variables of ServiceConfig are never read for a service without Kafka.
  configClass: DashboardConfig as new () => DashboardConfig & ServiceConfig,
  module: () => AppModule.forRoot(),
};
