import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { BILLING_MODES, type BillingModeName } from '@metering/billing-domain';
import {
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';

export class VoidInvoiceDto {
  @ApiProperty({ example: 'issued in error' })
  @IsString()
  @Length(1, 500)
  reason!: string;
}

export class BillingRunDto {
  @ApiPropertyOptional({
    description: 'RFC 3339 instant the run bills up to (default: now; never in the future)',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  asOf?: string;

  @ApiPropertyOptional({ description: 'only this account (default: every subscribed account)' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  accountId?: string;
}

export class UpcomingQueryDto {
  @ApiPropertyOptional({ description: 'RFC 3339 instant to preview at (default: now)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  asOf?: string;
}

export class InvoicePageQueryDto {
  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @Matches(/^-?\d{1,16}(:[A-Za-z0-9_]{1,64})?$/)
  cursor?: string;

  @ApiPropertyOptional({
    enum: BILLING_MODES,
    description: "only the account's pooled invoices, or only its tenants' own-plan invoices",
  })
  @IsOptional()
  @IsIn(BILLING_MODES)
  mode?: BillingModeName;

  @ApiPropertyOptional({ description: "only this tenant's own-plan invoices" })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  tenantId?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;
}
