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
    await this.checkScope(caller, query);
    return this.usage.usage({
      meter: query.meter,
      accountId: query.accountId,
      tenantId: query.tenantId,
      fromMs: query.from ? Date.parse(query.from) : 0,
      toMs: query.to ? Date.parse(query.to) : Date.now(),
      window: query.window,
    });
  }

  /** Another account's account or tenant is answered as not found, never as empty usage. */
  private async checkScope(caller: ManagementPrincipal, query: UsageQueryDto): Promise<void> {
    const own = caller.accountId;
    if (query.accountId && own && query.accountId !== own) {
      throw new AppError('not_found', 'account_not_found', `no account ${query.accountId}`);
    }
    if (!query.tenantId) return;
    const tenant = await this.registry.getTenant(query.tenantId);
    const account = query.accountId ?? own;
    if (!tenant || (account && tenant.accountId !== account)) {
      throw new AppError('not_found', 'tenant_not_found', `no tenant ${query.tenantId}`);
    }
  }
}
