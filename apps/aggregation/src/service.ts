import type { ServiceDefinition } from '@metering/service-kit';
import { AppModule } from './app.module';
import { AggregationConfig } from './config';
import { entitlementCheckRoute } from './quotas/entitlement-check.route';

export const aggregationService: ServiceDefinition<AggregationConfig> = {
  name: 'aggregation',
  description: 'Metering: consumes usage.events.v1 into ClickHouse and answers usage queries.',
  configClass: AggregationConfig,
  module: (config) => AppModule.forRoot(config),
  directRoutes: (app) => [entitlementCheckRoute(app)],
};
