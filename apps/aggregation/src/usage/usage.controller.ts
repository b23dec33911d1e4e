import { Controller, Get, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { UsageQueryDto } from './usage-query.dto';
import { UsageService, type UsageResult } from './usage.service';

@ApiTags('usage')
@Controller('v1/usage')
export class UsageController {
  constructor(private readonly usage: UsageService) {}

  @Get()
  @ApiOperation({
    summary:
      "An account's pooled usage of one meter over [from, to), with each tenant's part, or one tenant's",
  })
  get(@Query() query: UsageQueryDto): Promise<UsageResult> {
    return this.usage.usage({
      meter: query.meter,
      accountId: query.accountId,
      tenantId: query.tenantId,
      fromMs: query.from ? Date.parse(query.from) : 0,
      toMs: query.to ? Date.parse(query.to) : Date.now(),
    });
  }
}
