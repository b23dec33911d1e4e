import { IsInt, IsNotEmpty, IsString, IsUrl, Matches, Max, Min, ValidateIf } from 'class-validator';
import { DatabaseServiceConfig, Secret } from '@metering/config';

export class BillingConfig extends DatabaseServiceConfig {
  override PORT: number = 3004;
  override DATABASE_URL: string = 'postgres://postgres@127.0.0.1:5432/metering_billing';

  /** Login role requests run as (row-level security applies to it); created by migrations. */
  @Matches(/^[a-z_][a-z0-9_]{0,62}$/)
  DATABASE_APP_ROLE: string = 'billing_app';

  @IsString()
  @Secret()
  DATABASE_APP_PASSWORD: string = 'billing_app';

  /** The registry's gRPC address (management-key checks). */
  @Matches(/^[^\s:]+:\d{1,5}$/)
  REGISTRY_GRPC_URL: string = '127.0.0.1:50051';

  /** How long management-key checks are reused (a revoked key stops working within this). */
  @IsInt()
  @Min(0)
  KEY_CACHE_TTL_MS: number = 5_000;

  /** Aggregation's gRPC address: pooled period usage and the meter catalog. */
  @Matches(/^[^\s:]+:\d{1,5}$/)
  USAGE_GRPC_URL: string = '127.0.0.1:50053';

  /** Deadline of one period-usage call to aggregation. */
  @IsInt()
  @Min(100)
  @Max(300_000)
  USAGE_TIMEOUT_MS: number = 30_000;

  /** How often the scheduled billing run drafts, re-rates and finalizes invoices; 0 turns it off. */
  @IsInt()
  @Min(0)
  BILLING_RUN_INTERVAL_MS: number = 60_000;

  /** How many accounts a billing run bills at once. */
  @IsInt()
  @Min(1)
  @Max(64)
  BILLING_RUN_CONCURRENCY: number = 8;

  /** Stripe's secret key; empty (the default) leaves Stripe sync and webhooks off. */
  @IsString()
  @Secret()
  STRIPE_SECRET_KEY: string = '';

  /** Signing secret of the Stripe webhook endpoint; required when Stripe is on. */
  @ValidateIf((c: BillingConfig) => c.STRIPE_SECRET_KEY !== '')
  @IsNotEmpty()
  @Secret()
  STRIPE_WEBHOOK_SECRET: string = '';

  /** Another base URL for Stripe's API (e.g. a local server in tests); empty means Stripe's own. */
  @ValidateIf((c: BillingConfig) => c.STRIPE_API_BASE !== '')
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  STRIPE_API_BASE: string = '';
}
