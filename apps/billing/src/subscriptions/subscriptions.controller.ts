import { Body, Controller, Get, Param, Put, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Subscription } from '@metering/billing-domain';
import { CAN } from '@metering/contracts';
import { Allow, ManagementKeyGuard, Principal, type ManagementPrincipal } from '@metering/registry-client';
import { BillingService } from '../billing/billing.service';
import { ownAccount } from '../billing/caller';
import { PutSubscriptionDto } from './subscription.dto';

const view = (s: Subscription) => ({
  ...s,
  startAt: new Date(s.startMs).toISOString(),
  phases: s.phases.map((p) => ({ ...p, effectiveFrom: new Date(p.effectiveFromMs).toISOString() })),
});

@ApiTags('subscriptions')
@ApiBearerAuth()
@UseGuards(ManagementKeyGuard)
@Controller('v1/accounts/:id/subscription')
export class SubscriptionsController {
  constructor(private readonly billing: BillingService) {}

  @Put()
  @Allow(...CAN.administer)
  @ApiOperation({
    summary: 'Subscribe the account to a plan version, or change its plan (next period by default)',
  })
  async put(
    @Principal() principal: ManagementPrincipal,
    @Param('id') accountId: string,
    @Body() body: PutSubscriptionDto,
  ): Promise<ReturnType<typeof view>> {
    const subscription = await this.billing.store.subscribe(ownAccount(principal, accountId), {
      accountId,
      planId: body.planId,
      planVersion: body.planVersion,
      ...(body.startAt ? { startAtMs: Date.parse(body.startAt) } : {}),
      ...(body.anchorDay !== undefined ? { anchorDay: body.anchorDay } : {}),
      ...(body.timezone !== undefined ? { timezone: body.timezone } : {}),
      ...(body.effective ? { timing: body.effective } : {}),
      nowMs: Date.now(),
    });
    return view(subscription);
  }

  @Get()
  @Allow(...CAN.read)
  async get(@Principal() principal: ManagementPrincipal, @Param('id') accountId: string) {
    return view(await this.billing.store.getSubscription(ownAccount(principal, accountId), accountId));
  }
}
