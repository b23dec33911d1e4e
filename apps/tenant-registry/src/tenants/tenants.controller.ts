import { Body, Controller, Delete, Get, Param, Patch, Post, Put, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { StoredEvent } from '@metering/event-store';
import type { Caller, Page, TenantView } from '@metering/registry-data-access';
import { CAN } from '@metering/registry-domain';
import { CallerOf } from '../auth/caller.decorator';
import { Allow, ManagementAuthGuard } from '../auth/management-auth.guard';
import { RegistryService } from '../registry/registry.service';
import {
  BulkCreateTenantsDto,
  CreateTenantDto,
  FeaturesDto,
  LimitsDto,
  ListTenantsQueryDto,
  SuspendDto,
  UpdateTenantDto,
  checkFeatures,
} from './tenant.dto';

@ApiTags('tenants')
@ApiBearerAuth()
@UseGuards(ManagementAuthGuard)
@Controller('v1')
export class TenantsController {
  constructor(private readonly registry: RegistryService) {}

  @Post('accounts/:accountId/tenants')
  @Allow(...CAN.operate)
  async create(
    @CallerOf() caller: Caller,
    @Param('accountId') accountId: string,
    @Body() body: CreateTenantDto,
  ): Promise<TenantView> {
    checkFeatures(body.features);
    const [tenant] = await this.registry.store.createTenants(caller, accountId, [body]);
    return tenant;
  }

  @Post('accounts/:accountId/tenants/bulk')
  @Allow(...CAN.operate)
  async bulk(
    @CallerOf() caller: Caller,
    @Param('accountId') accountId: string,
    @Body() body: BulkCreateTenantsDto,
  ): Promise<{ created: number; tenants: TenantView[] }> {
    body.tenants.forEach((t) => checkFeatures(t.features));
    const inputs = body.tenants.map((t) => ({ ...t, templateId: t.templateId ?? body.templateId }));
    const tenants = await this.registry.store.createTenants(caller, accountId, inputs);
    return { created: tenants.length, tenants };
  }

  @Get('accounts/:accountId/tenants')
  @Allow(...CAN.read)
  list(
    @CallerOf() caller: Caller,
    @Param('accountId') accountId: string,
    @Query() query: ListTenantsQueryDto,
  ): Promise<Page<TenantView>> {
    return this.registry.store.listTenants(caller, accountId, {
      status: query.status,
      cursor: query.cursor,
      limit: query.limit ?? 50,
    });
  }

  @Get('tenants/:id')
  @Allow(...CAN.read)
  get(@CallerOf() caller: Caller, @Param('id') id: string): Promise<TenantView> {
    return this.registry.store.getTenant(caller, id);
  }

  @Patch('tenants/:id')
  @Allow(...CAN.operate)
  async update(
    @CallerOf() caller: Caller,
    @Param('id') id: string,
    @Body() body: UpdateTenantDto,
  ): Promise<TenantView> {
    return await this.registry.store.changeTenant(caller, id, { kind: 'update', changes: body });
  }

  @Delete('tenants/:id')
  @Allow(...CAN.administer)
  async remove(@CallerOf() caller: Caller, @Param('id') id: string): Promise<TenantView> {
    return await this.registry.store.changeTenant(caller, id, {
      kind: 'delete',
      at: new Date().toISOString(),
    });
  }

  @Post('tenants/:id/suspend')
  @Allow(...CAN.operate)
  async suspend(
    @CallerOf() caller: Caller,
    @Param('id') id: string,
    @Body() body: SuspendDto,
  ): Promise<TenantView> {
    return await this.registry.store.changeTenant(caller, id, { kind: 'suspend', reason: body.reason });
  }

  @Post('tenants/:id/resume')
  @Allow(...CAN.operate)
  async resume(@CallerOf() caller: Caller, @Param('id') id: string): Promise<TenantView> {
    return await this.registry.store.changeTenant(caller, id, { kind: 'resume' });
  }

  @Put('tenants/:id/limits')
  @Allow(...CAN.operate)
  async limits(
    @CallerOf() caller: Caller,
    @Param('id') id: string,
    @Body() body: LimitsDto,
  ): Promise<TenantView> {
    return await this.registry.store.changeTenant(caller, id, { kind: 'set-limits', limits: body.limits });
  }

  @Put('tenants/:id/features')
  @Allow(...CAN.operate)
  async features(
    @CallerOf() caller: Caller,
    @Param('id') id: string,
    @Body() body: FeaturesDto,
  ): Promise<TenantView> {
    checkFeatures(body.features);
    return await this.registry.store.changeTenant(caller, id, {
      kind: 'set-features',
      features: body.features,
    });
  }

  @Get('tenants/:id/history')
  @Allow(...CAN.read)
  async history(@CallerOf() caller: Caller, @Param('id') id: string): Promise<{ events: StoredEvent[] }> {
    return { events: await this.registry.store.tenantHistory(caller, id) };
  }
}
