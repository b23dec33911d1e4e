import type { ServiceDefinition } from '@metering/service-kit';
import { AppModule } from './app.module';
import { BillingConfig } from './config';

export const billingService: ServiceDefinition<BillingConfig> = {
  name: 'billing',
  description:
    'Plans, subscriptions, invoices with per-tenant attribution and Stripe sync; publishes billing.events.v1.',
  configClass: BillingConfig,
  module: (config) => AppModule.forRoot(config),
};
