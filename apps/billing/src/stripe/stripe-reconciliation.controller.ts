import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import type { ReconciliationReport } from '@metering/billing-data-access';
import { CAN } from '@metering/contracts';
import { Allow, ManagementKeyGuard, Principal, type ManagementPrincipal } from '@metering/registry-client';
import { callerOf } from '../billing/caller';
import { StripeService } from './stripe.service';

export class ReconciliationQueryDto {
  @ApiPropertyOptional({ description: 'only this account (default: every account)' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  accountId?: string;

  @ApiPropertyOptional({ description: 'most recently finalized invoices compared (default 100)' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}

@ApiTags('stripe')
@ApiBearerAuth()
@UseGuards(ManagementKeyGuard)
@Controller('v1/stripe')
export class StripeReconciliationController {
  constructor(private readonly stripe: StripeService) {}

  @Get('reconciliation')
  @Allow(...CAN.platform)
  @ApiOperation({ summary: 'Local invoices against their Stripe invoices: unsynced, missing or differing' })
  reconcile(
    @Principal() principal: ManagementPrincipal,
    @Query() query: ReconciliationQueryDto,
  ): Promise<ReconciliationReport> {
    return this.stripe.stripe.reconcile(callerOf(principal), {
      ...(query.accountId ? { accountId: query.accountId } : {}),
      ...(query.limit ? { limit: query.limit } : {}),
    });
  }
}
