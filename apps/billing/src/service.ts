import type { ServiceDefinition } from '@metering/service-kit';
import { AppModule } from './app.module';
import { BillingConfig } from './config';
import { STRIPE_WEBHOOK_PATH } from './stripe/stripe-webhooks.controller';

export const billingService: ServiceDefinition<BillingConfig> = {
  name: 'billing',
  description:
    'Plans, subscriptions, invoices with per-tenant attribution and Stripe sync; publishes billing.events.v1.',
  configClass: BillingConfig,
  module: (config) => AppModule.forRoot(config),
  // Stripe signs the bytes it sends; the webhook handler verifies them before parsing.
  rawBodyPaths: [STRIPE_WEBHOOK_PATH],
};
