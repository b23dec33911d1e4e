import type { ServiceDefinition } from '@metering/service-kit';
import { AppModule } from './app.module';
import { TenantAuthService } from './auth/tenant-auth.service';
import { IngestionConfig } from './config';
import { CLOUDEVENT_BATCH_MEDIA_TYPE, CLOUDEVENT_MEDIA_TYPE } from './events/events.controller';
import { refuseOverRateUnread } from './events/refuse-over-rate.middleware';
import { TenantRateLimiter } from './events/tenant-rate-limiter';

export const ingestionService: ServiceDefinition<IngestionConfig> = {
  name: 'ingestion',
  description: 'Usage intake: authenticates, validates and publishes usage events to usage.events.v1.',
  configClass: IngestionConfig,
  module: (config) => AppModule.forRoot(config),
  bodyLimit: (config) => config.INGEST_MAX_BODY_BYTES,
  jsonMediaTypes: [CLOUDEVENT_MEDIA_TYPE, CLOUDEVENT_BATCH_MEDIA_TYPE],
  beforeBody: (app) => refuseOverRateUnread(app.get(TenantAuthService), app.get(TenantRateLimiter)),
};
