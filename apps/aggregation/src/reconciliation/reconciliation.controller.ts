import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsOptional, Matches, MaxLength } from 'class-validator';
import { AppError, CAN, ID_PATTERN, IsRfc3339 } from '@metering/contracts';
import { Allow, ManagementKeyGuard, Principal, type ManagementPrincipal } from '@metering/registry-client';
import { ReconciliationService, type HourReconciliation } from './reconciliation.service';

export class ReconciliationQueryDto {
  @ApiProperty()
  @Matches(ID_PATTERN)
  @MaxLength(128)
  accountId!: string;

  @ApiPropertyOptional({ description: 'Inclusive start (RFC 3339); default: 24 hours before `to`' })
  @IsOptional()
  @IsRfc3339()
  from?: string;

  @ApiPropertyOptional({ description: 'Exclusive end (RFC 3339); default: now' })
  @IsOptional()
  @IsRfc3339()
  to?: string;
}

@ApiTags('reconciliation')
@ApiBearerAuth()
@UseGuards(ManagementKeyGuard)
@Allow(...CAN.read)
@Controller('v1/reconciliation')
export class ReconciliationController {
  constructor(private readonly reconciliation: ReconciliationService) {}

  @Get()
  @ApiOperation({
    summary:
      'Per hour: events consumed from Kafka against distinct events stored and rolled up, for one account',
  })
  async get(
    @Query() query: ReconciliationQueryDto,
    @Principal() caller: ManagementPrincipal,
  ): Promise<{ accountId: string; hours: HourReconciliation[] }> {
    if (caller.accountId && caller.accountId !== query.accountId) {
      throw new AppError('not_found', 'account_not_found', `no account ${query.accountId}`);
    }
    const toMs = query.to ? Date.parse(query.to) : Date.now();
    const fromMs = query.from ? Date.parse(query.from) : toMs - 24 * 3_600_000;
    return {
      accountId: query.accountId,
      hours: await this.reconciliation.hours(query.accountId, fromMs, toMs),
    };
  }
}
