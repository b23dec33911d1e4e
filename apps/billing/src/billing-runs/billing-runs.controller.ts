import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { RunResult } from '@metering/billing-data-access';
import { CAN } from '@metering/contracts';
import { Allow, ManagementKeyGuard, Principal, type ManagementPrincipal } from '@metering/registry-client';
import { BillingService } from '../billing/billing.service';
import { callerOf } from '../billing/caller';
import { BillingRunDto } from '../invoices/invoice.dto';

@ApiTags('billing-runs')
@ApiBearerAuth()
@UseGuards(ManagementKeyGuard)
@Controller('v1/billing-runs')
export class BillingRunsController {
  constructor(private readonly billing: BillingService) {}

  @Post()
  @HttpCode(200)
  @Allow(...CAN.platform)
  @ApiOperation({
    summary:
      'Draft, re-rate and finalize invoices of periods ended by asOf (idempotent; the scheduler runs it too)',
  })
  run(@Principal() principal: ManagementPrincipal, @Body() body: BillingRunDto): Promise<RunResult> {
    return this.billing.runner.run(
      callerOf(principal),
      body.asOf ? Date.parse(body.asOf) : Date.now(),
      body.accountId,
    );
  }
}
