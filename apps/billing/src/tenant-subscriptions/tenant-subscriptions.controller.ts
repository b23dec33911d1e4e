import { Body, Controller, Delete, Get, Param, Put, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  BillingError,
  BillingErrorCode,
  modeHistory,
  openSubscription,
  previewView,
  type TenantSubscription,
} from '@metering/billing-domain';
import { CAN } from '@metering/contracts';
import { Allow, ManagementKeyGuard, Principal, type ManagementPrincipal } from '@metering/registry-client';
import { BillingService } from '../billing/billing.service';
import { UpcomingQueryDto } from '../invoices/invoice.dto';
import { PutTenantSubscriptionDto, TenantPoolQueryDto } from './tenant-subscription.dto';

const iso = (ms: number | null) => (ms === null || !Number.isFinite(ms) ? null : new Date(ms).toISOString());

const subscriptionView = (s: TenantSubscription) => ({
  ...s,
  startAt: iso(s.startMs),
  endAt: iso(s.endMs),
  phases: s.phases.map((p) => ({ ...p, effectiveFrom: iso(p.effectiveFromMs) })),
});

/** A tenant's billing: its mode now, its open own subscription, and its history of modes. */
function billingView(tenantId: string, accountId: string, history: TenantSubscription[], nowMs: number) {
  const open = openSubscription(history);
  const ownNow = history.find((s) => s.startMs <= nowMs && nowMs < (s.endMs ?? Number.POSITIVE_INFINITY));
  return {
    tenantId,
    accountId,
    mode: ownNow ? 'tenant' : 'pooled',
    subscription: open ? subscriptionView(open) : null,
    history: modeHistory(history),
    subscriptions: history.map(subscriptionView),
  };
}

const parseInstant = (text?: string) => (text ? Date.parse(text) : undefined);

@ApiTags('tenant-subscriptions')
@ApiBearerAuth()
@UseGuards(ManagementKeyGuard)
@Controller('v1/tenants/:id')
export class TenantSubscriptionsController {
  constructor(private readonly billing: BillingService) {}

  @Put('subscription')
  @Allow(...CAN.administer)
  @ApiOperation({
    summary:
      "Bill the tenant on its own plan (its own calendar and invoices), change that plan, or move it back to the account's pool (`mode: pooled`)",
  })
  async put(
    @Principal() principal: ManagementPrincipal,
    @Param('id') tenantId: string,
    @Body() body: PutTenantSubscriptionDto,
  ) {
    const { caller, tenant } = await this.billing.tenantCaller(principal, tenantId, { active: true });
    const nowMs = Date.now();
    const effectiveAtMs = parseInstant(body.effectiveAt);
    const common = {
      tenantId,
      nowMs,
      ...(effectiveAtMs === undefined ? {} : { effectiveAtMs }),
      ...(body.effective ? { timing: body.effective } : {}),
    };
    const { history } = await this.billing.store.changeTenantBilling(
      caller,
      tenant.accountId,
      (body.mode ?? 'tenant') === 'pooled'
        ? { kind: 'pooled', ...common }
        : {
            kind: 'own-plan',
            ...common,
            planId: body.planId!,
            planVersion: body.planVersion!,
            ...(body.anchorDay === undefined ? {} : { anchorDay: body.anchorDay }),
            ...(body.timezone === undefined ? {} : { timezone: body.timezone }),
            ...(body.stripeCustomer ? { stripeCustomer: body.stripeCustomer } : {}),
          },
    );
    return billingView(tenantId, tenant.accountId, history, nowMs);
  }

  @Delete('subscription')
  @Allow(...CAN.administer)
  @ApiOperation({ summary: "Move the tenant back to the account's pool (now, or at `effectiveAt`)" })
  async delete(
    @Principal() principal: ManagementPrincipal,
    @Param('id') tenantId: string,
    @Query() query: TenantPoolQueryDto,
  ) {
    const { caller, tenant } = await this.billing.tenantCaller(principal, tenantId, { active: true });
    const nowMs = Date.now();
    const effectiveAtMs = parseInstant(query.effectiveAt);
    const { history } = await this.billing.store.changeTenantBilling(caller, tenant.accountId, {
      kind: 'pooled',
      tenantId,
      nowMs,
      ...(effectiveAtMs === undefined ? {} : { effectiveAtMs }),
    });
    return billingView(tenantId, tenant.accountId, history, nowMs);
  }

  @Get('subscription')
  @Allow(...CAN.read)
  @ApiOperation({ summary: "The tenant's billing mode, its own subscription and its history of modes" })
  async get(@Principal() principal: ManagementPrincipal, @Param('id') tenantId: string) {
    const { caller, tenant } = await this.billing.tenantCaller(principal, tenantId);
    const history = await this.billing.store.tenantSubscriptions(caller, tenantId);
    return billingView(tenantId, tenant.accountId, history, Date.now());
  }

  @Get('upcoming-invoice')
  @Allow(...CAN.read)
  @ApiOperation({ summary: "The tenant's current own-plan period rated on its usage so far (a preview)" })
  async upcoming(
    @Principal() principal: ManagementPrincipal,
    @Param('id') tenantId: string,
    @Query() query: UpcomingQueryDto,
  ) {
    const { caller, tenant } = await this.billing.tenantCaller(principal, tenantId);
    const asOfMs = parseInstant(query.asOf) ?? Date.now();
    const history = await this.billing.store.tenantSubscriptions(caller, tenantId);
    const subscription = [...history].reverse().find((s) => s.startMs <= asOfMs) ?? history[0];
    if (!subscription) {
      throw new BillingError(
        BillingErrorCode.SUBSCRIPTION_NOT_FOUND,
        `tenant ${tenantId} is pooled: its usage is on the account's upcoming invoice`,
      );
    }
    const { period, draft } = await this.billing.runner.previewTenant(caller, subscription, asOfMs);
    return {
      ...previewView(tenant.accountId, draft, period, asOfMs, tenantId),
      subscriptionId: subscription.id,
    };
  }
}
