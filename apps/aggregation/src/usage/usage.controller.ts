import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AppError, CAN } from '@metering/contracts';
import {
  Allow,
  ManagementKeyGuard,
  Principal,
  RegistryClient,
  type ManagementPrincipal,
} from '@metering/registry-client';
import { UsageQueryDto } from './usage-query.dto';
import { UsageService, type UsageResult } from './usage.service';

@ApiTags('usage')
@ApiBearerAuth()
@UseGuards(ManagementKeyGuard)
@Allow(...CAN.read)
@Controller('v1/usage')
export class UsageController {
  constructor(
    private readonly usage: UsageService,
    private readonly registry: RegistryClient,
  ) {}

  @Get()
  @ApiOperation({
    summary:
      "An account's pooled usage of one meter over [from, to), with each tenant's part, or one tenant's",
  })
  async get(@Query() query: UsageQueryDto, @Principal() caller: ManagementPrincipal): Promise<UsageResult> {
    const accountId = await this.accountOf(caller, query);
    return this.usage.usage({
      meter: query.meter,
      accountId,
      tenantId: query.tenantId,
      fromMs: query.from ? Date.parse(query.from) : 0,
      toMs: query.to ? Date.parse(query.to) : Date.now(),
      window: query.window,
      groupBy: query.groupBy,
    });
  }

  /**
   * The account the query reads. Another account's account or tenant is answered as not found,
   * never as empty usage.
   */
  private async accountOf(caller: ManagementPrincipal, query: UsageQueryDto): Promise<string> {
    const own = caller.accountId;
    if (query.accountId && own && query.accountId !== own) {
      throw new AppError('not_found', 'account_not_found', `no account ${query.accountId}`);
    }
    if (!query.tenantId) {
      if (!query.accountId) {
        throw new AppError('invalid', 'validation_failed', 'name an accountId or a tenantId', {
          field: 'accountId',
        });
      }
      return query.accountId;
    }
    const account = query.accountId ?? own;
    const tenant = await this.registry.getTenant(query.tenantId);
    if (!tenant || (account && tenant.accountId !== account)) {
      throw new AppError('not_found', 'tenant_not_found', `no tenant ${query.tenantId}`);
    }
    return tenant.accountId;
  }
}
