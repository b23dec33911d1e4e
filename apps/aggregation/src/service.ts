import type { ServiceDefinition } from '@metering/service-kit';
import { AppModule } from './app.module';
import { AggregationConfig } from './config';

export const aggregationService: ServiceDefinition<AggregationConfig> = {
  name: 'aggregation',
  description: 'Metering: consumes usage.events.v1 into ClickHouse and answers usage queries.',
  configClass: AggregationConfig,
  module: (config) => AppModule.forRoot(config),
};
