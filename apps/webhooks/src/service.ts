import type { ServiceDefinition } from '@metering/service-kit';
import { AppModule } from './app.module';
import { WebhooksConfig } from './config';

export const webhooksService: ServiceDefinition<WebhooksConfig> = {
  name: 'webhooks',
  description:
    "Outbound webhooks: vendors' endpoints subscribed to domain events, signed deliveries retried with backoff, a delivery log and redelivery.",
  configClass: WebhooksConfig,
  module: (config) => AppModule.forRoot(config),
};
