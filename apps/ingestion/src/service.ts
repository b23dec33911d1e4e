import type { ServiceDefinition } from '@metering/service-kit';
import { AppModule } from './app.module';
import { IngestionConfig } from './config';
import { CLOUDEVENT_BATCH_MEDIA_TYPE, CLOUDEVENT_MEDIA_TYPE } from './events/events.controller';

export const ingestionService: ServiceDefinition<IngestionConfig> = {
  name: 'ingestion',
  description: 'Usage intake: authenticates, validates and publishes usage events to usage.events.v1.',
  configClass: IngestionConfig,
  module: (config) => AppModule.forRoot(config),
  bodyLimit: (config) => config.INGEST_MAX_BODY_BYTES,
  jsonMediaTypes: [CLOUDEVENT_MEDIA_TYPE, CLOUDEVENT_BATCH_MEDIA_TYPE],
};
