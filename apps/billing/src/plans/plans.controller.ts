import { Body, Controller, Get, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { checkPlanVersion, type PlanVersion, type PlanVersionSpec } from '@metering/billing-domain';
import type { Plan } from '@metering/billing-data-access';
import { CAN } from '@metering/contracts';
import { PositiveIntParamPipe } from '@metering/service-kit';
import { Allow, ManagementKeyGuard, Principal, type ManagementPrincipal } from '@metering/registry-client';
import { BillingService } from '../billing/billing.service';
import { callerOf } from '../billing/caller';
import { CreatePlanDto, PlanVersionDto } from './plan.dto';

const specOf = (body: PlanVersionDto): PlanVersionSpec => ({
  currency: body.currency,
  interval: body.interval ?? 'month',
  baseFee: body.baseFee,
  meters: body.meters as PlanVersionSpec['meters'],
  tenantLimits: body.tenantLimits ?? {},
  gracePeriodHours: body.gracePeriodHours,
});

@ApiTags('plans')
@ApiBearerAuth()
@UseGuards(ManagementKeyGuard)
@Controller('v1/plans')
export class PlansController {
  constructor(private readonly billing: BillingService) {}

  /** A version's rules, meters checked against aggregation's catalog. */
  private async checked(body: PlanVersionDto): Promise<PlanVersionSpec> {
    const spec = specOf(body);
    checkPlanVersion(spec, await this.billing.usage.meterKeys());
    return spec;
  }

  @Post()
  @Allow(...CAN.platform)
  @ApiOperation({ summary: 'Create a plan with its first version' })
  async create(@Principal() principal: ManagementPrincipal, @Body() body: CreatePlanDto): Promise<Plan> {
    const spec = await this.checked(body);
    return this.billing.store.createPlan(callerOf(principal), { id: body.id, name: body.name, spec });
  }

  @Get()
  @Allow(...CAN.read)
  @ApiOperation({ summary: 'The plan catalog with every version' })
  async list(@Principal() principal: ManagementPrincipal): Promise<{ plans: Plan[] }> {
    return { plans: await this.billing.store.listPlans(callerOf(principal)) };
  }

  @Get(':id')
  @Allow(...CAN.read)
  get(@Principal() principal: ManagementPrincipal, @Param('id') id: string): Promise<Plan> {
    return this.billing.store.getPlan(callerOf(principal), id);
  }

  @Get(':id/versions/:version')
  @Allow(...CAN.read)
  version(
    @Principal() principal: ManagementPrincipal,
    @Param('id') id: string,
    @Param('version', PositiveIntParamPipe) version: number,
  ): Promise<PlanVersion> {
    return this.billing.store.getPlanVersion(callerOf(principal), id, version, 'version');
  }

  @Post(':id/versions')
  @Allow(...CAN.platform)
  @ApiOperation({ summary: 'Add a version (versions never change; subscriptions move to a new one)' })
  async addVersion(
    @Principal() principal: ManagementPrincipal,
    @Param('id') id: string,
    @Body() body: PlanVersionDto,
  ): Promise<PlanVersion> {
    const spec = await this.checked(body);
    return this.billing.store.addPlanVersion(callerOf(principal), id, spec);
  }
}
