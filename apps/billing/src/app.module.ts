import { type DynamicModule, Module } from '@nestjs/common';
import { UsageClient } from '@metering/aggregation-client';
import { billingMigrations } from '@metering/billing-data-access';
import { KafkaModule } from '@metering/kafka';
import { PersistenceModule } from '@metering/persistence';
import { ManagementKeyGuard, RegistryClient } from '@metering/registry-client';
import { BillingService } from './billing/billing.service';
import { BillingRunsController } from './billing-runs/billing-runs.controller';
import type { BillingConfig } from './config';
import { InvoicesController } from './invoices/invoices.controller';
import { PlansController } from './plans/plans.controller';
import { StripeReconciliationController } from './stripe/stripe-reconciliation.controller';
import { StripeService } from './stripe/stripe.service';
import { StripeWebhooksController } from './stripe/stripe-webhooks.controller';
import { SubscriptionsController } from './subscriptions/subscriptions.controller';
import { TenantSubscriptionsController } from './tenant-subscriptions/tenant-subscriptions.controller';

@Module({})
export class AppModule {
  static forRoot(config: BillingConfig): DynamicModule {
    const appRole = { name: config.DATABASE_APP_ROLE, password: config.DATABASE_APP_PASSWORD };
    // Stripe sync, its webhook and reconciliation exist only when a secret key is configured.
    const stripe = config.STRIPE_SECRET_KEY !== '';
    return {
      module: AppModule,
      imports: [
        KafkaModule.forService(config, 'billing'),
        PersistenceModule.forRoot({
          url: config.DATABASE_URL,
          queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS,
          migrations: billingMigrations({ appRole: appRole.name, appPassword: appRole.password }),
          appRole,
        }),
      ],
      controllers: [
        PlansController,
        SubscriptionsController,
        TenantSubscriptionsController,
        InvoicesController,
        BillingRunsController,
        ...(stripe ? [StripeWebhooksController, StripeReconciliationController] : []),
      ],
      providers: [
        BillingService,
        ...(stripe ? [StripeService] : []),
        ManagementKeyGuard,
        {
          provide: RegistryClient,
          useFactory: () =>
            new RegistryClient({ url: config.REGISTRY_GRPC_URL, cacheTtlMs: config.KEY_CACHE_TTL_MS }),
        },
        {
          provide: UsageClient,
          useFactory: () =>
            new UsageClient({ url: config.USAGE_GRPC_URL, timeoutMs: config.USAGE_TIMEOUT_MS }),
        },
      ],
    };
  }
}
