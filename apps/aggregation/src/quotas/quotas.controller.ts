import { Body, Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AppError, CAN } from '@metering/contracts';
import {
  Allow,
  ManagementKeyGuard,
  Principal,
  RegistryClient,
  type ManagementPrincipal,
} from '@metering/registry-client';
import { EntitlementCheckDto } from './entitlement-check.dto';
import { EntitlementService, type EntitlementDecision } from './entitlement.service';
import { QuotaService, type AccountQuotas } from './quota.service';

@ApiTags('quotas')
@ApiBearerAuth()
@UseGuards(ManagementKeyGuard)
@Allow(...CAN.read)
@Controller('v1')
export class QuotasController {
  constructor(
    private readonly quotas: QuotaService,
    private readonly entitlements: EntitlementService,
    private readonly registry: RegistryClient,
  ) {}

  @Get('accounts/:id/quotas')
  @ApiOperation({
    summary:
      "The current period's pooled usage against the plan's included quantities, per meter, with each tenant's part (tenants on their own plans count only while pooled)",
  })
  get(@Param('id') accountId: string, @Principal() caller: ManagementPrincipal): Promise<AccountQuotas> {
    if (caller.accountId && caller.accountId !== accountId) {
      throw new AppError('not_found', 'account_not_found', `no account ${accountId}`);
    }
    return this.quotas.quotas(accountId);
  }

  @Get('tenants/:id/quotas')
  @ApiOperation({
    summary:
      "A tenant on its own plan: its usage of its own plan's current period against that plan's included quantities",
  })
  async tenant(
    @Param('id') tenantId: string,
    @Principal() caller: ManagementPrincipal,
  ): Promise<AccountQuotas> {
    const tenant = await this.registry.getTenant(tenantId);
    if (!tenant || (caller.accountId && caller.accountId !== tenant.accountId)) {
      throw new AppError('not_found', 'tenant_not_found', `no tenant ${tenantId}`);
    }
    return this.quotas.tenantQuotas(tenantId, tenant.accountId);
  }

  @Post('entitlements/check')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'May a tenant use `quantity` more of a pooled meter, or hold `quantity` of a capability limit? Answered from memory',
  })
  check(
    @Body() body: EntitlementCheckDto,
    @Principal() caller: ManagementPrincipal,
  ): Promise<EntitlementDecision> {
    return this.entitlements.check(body, caller.accountId);
  }
}
