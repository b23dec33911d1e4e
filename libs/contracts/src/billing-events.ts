import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  IsArray,
  IsDefined,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';

/** A non-negative decimal quantity as a string (`1000`, `2.5`). */
export const DECIMAL_QUANTITY = /^\d{1,30}(\.\d{1,9})?$/;

export class PlanMeterAllowance {
  @IsString()
  @IsNotEmpty()
  meterKey!: string;

  /** Included (pooled) quantity per period. */
  @Matches(DECIMAL_QUANTITY)
  included!: string;

  /** Usage beyond this is refused by entitlement checks (none: overage is billed, never refused). */
  @IsOptional()
  @Matches(DECIMAL_QUANTITY)
  hardCap?: string;
}

/**
 * `data` of `subscription.changed` on `billing.events.v1`: what an account's plan allows from
 * `effectiveFromMs` on, and how its periods run. Aggregation evaluates quotas with it.
 */
export class SubscriptionChangedData {
  @IsString()
  @IsNotEmpty()
  subscriptionId!: string;

  @IsString()
  @IsNotEmpty()
  planId!: string;

  @IsInt()
  @Min(1)
  planVersion!: number;

  @IsString()
  @IsNotEmpty()
  currency!: string;

  @IsInt()
  @Min(1)
  @Max(31)
  anchorDay!: number;

  @IsString()
  @IsNotEmpty()
  timezone!: string;

  @IsInt()
  @Min(0)
  effectiveFromMs!: number;

  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => PlanMeterAllowance)
  meters!: PlanMeterAllowance[];

  /** The plan's default per-tenant capability limits. */
  @IsOptional()
  @IsObject()
  tenantLimits?: Record<string, number>;
}

export const SUBSCRIPTION_CHANGED = 'subscription.changed';

export const TENANT_BILLING_MODES = ['pooled', 'tenant'] as const;
export type TenantBillingMode = (typeof TENANT_BILLING_MODES)[number];

/**
 * `data` of `tenant_subscription.changed` on `billing.events.v1`: from `effectiveFromMs` on, the
 * tenant is pooled in its account (`mode: pooled`) or billed on its own subscription (`mode:
 * tenant`, with what that plan allows and how its periods run in `plan`). A later change replaces
 * what an earlier one said about the instants from its own `effectiveFromMs` on. The envelope's
 * `accountId` is the tenant's account and `tenantId` the tenant.
 */
export class TenantSubscriptionChangedData {
  @IsString()
  @IsNotEmpty()
  tenantId!: string;

  @IsIn(TENANT_BILLING_MODES)
  mode!: TenantBillingMode;

  @IsInt()
  @Min(0)
  effectiveFromMs!: number;

  /** The tenant's own subscription that starts, changes or ends here. */
  @IsString()
  @IsNotEmpty()
  subscriptionId!: string;

  @ValidateIf((d: TenantSubscriptionChangedData) => d.mode === 'tenant')
  @IsDefined()
  @ValidateNested()
  @Type(() => SubscriptionChangedData)
  plan?: SubscriptionChangedData;
}

export const TENANT_SUBSCRIPTION_CHANGED = 'tenant_subscription.changed';
