import { ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  Length,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import { MAX_INT32 } from '@metering/contracts';
import {
  BILLING_MODES,
  CHANGE_TIMINGS,
  STRIPE_CUSTOMER_CHOICES,
  type BillingModeName,
  type ChangeTiming,
  type StripeCustomerChoice,
} from '@metering/billing-domain';

const ownPlan = (body: PutTenantSubscriptionDto) => (body.mode ?? 'tenant') === 'tenant';

export class PutTenantSubscriptionDto {
  @ApiPropertyOptional({
    enum: BILLING_MODES,
    default: 'tenant',
    description: '`tenant`: bill the tenant on its own plan; `pooled`: back to the account pool',
  })
  @IsOptional()
  @IsIn(BILLING_MODES)
  mode?: BillingModeName;

  @ApiPropertyOptional({ description: 'mode `tenant`: the plan' })
  @ValidateIf(ownPlan)
  @IsString()
  @MaxLength(64)
  planId?: string;

  @ApiPropertyOptional({ minimum: 1, description: 'mode `tenant`: any version of the plan' })
  @ValidateIf(ownPlan)
  @IsInt()
  @Min(1)
  @Max(MAX_INT32)
  planVersion?: number;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: 31,
    description: "the own plan's anchor day (default: the account subscription's); fixed at creation",
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(31)
  anchorDay?: number;

  @ApiPropertyOptional({
    example: 'Asia/Tokyo',
    description:
      "IANA zone of the own plan's periods (default: the account subscription's); fixed at creation",
  })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  timezone?: string;

  @ApiPropertyOptional({
    enum: STRIPE_CUSTOMER_CHOICES,
    default: 'account',
    description: "whose Stripe customer the tenant's own invoices go to (separate invoices either way)",
  })
  @IsOptional()
  @IsIn(STRIPE_CUSTOMER_CHOICES)
  stripeCustomer?: StripeCustomerChoice;

  @ApiPropertyOptional({
    description:
      'RFC 3339 switch instant: usage before it stays in the earlier mode, usage at or after it goes to the new one (default: now; a plan change: per `effective`)',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  effectiveAt?: string;

  @ApiPropertyOptional({
    enum: CHANGE_TIMINGS,
    description:
      'without effectiveAt: a plan change of an own plan takes effect at its next period (default) or now; a switch back to the pool now (default) or at the end of the own period',
  })
  @IsOptional()
  @IsIn(CHANGE_TIMINGS)
  effective?: ChangeTiming;
}

export class TenantPoolQueryDto {
  @ApiPropertyOptional({ description: 'RFC 3339 instant the tenant rejoins the pool (default: now)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  effectiveAt?: string;
}
