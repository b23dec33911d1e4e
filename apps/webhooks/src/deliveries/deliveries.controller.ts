import { Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CAN } from '@metering/contracts';
import { Allow, ManagementKeyGuard, Principal, type ManagementPrincipal } from '@metering/registry-client';
import type { AttemptView, DeliveryPage, DeliveryView } from '@metering/webhooks-data-access';
import { callerFor } from '../caller';
import { WebhooksService } from '../webhooks.service';
import { DeliveryQueryDto } from './delivery-query.dto';

@ApiTags('webhook deliveries')
@ApiBearerAuth()
@UseGuards(ManagementKeyGuard)
@Controller('v1/accounts/:id/webhook-endpoints/:endpointId/deliveries')
export class DeliveriesController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Get()
  @Allow(...CAN.read)
  @ApiOperation({
    summary:
      "The endpoint's deliveries, newest first: status, attempts, last response code, latency and error",
  })
  list(
    @Principal() principal: ManagementPrincipal,
    @Param('id') accountId: string,
    @Param('endpointId') endpointId: string,
    @Query() query: DeliveryQueryDto,
  ): Promise<DeliveryPage> {
    return this.webhooks.store.listDeliveries(callerFor(principal, accountId), accountId, endpointId, {
      limit: query.limit ?? 20,
      ...(query.status ? { status: query.status } : {}),
      ...(query.cursor ? { cursor: query.cursor } : {}),
    });
  }

  @Get(':deliveryId')
  @Allow(...CAN.read)
  @ApiOperation({ summary: 'One delivery with the log of each attempt' })
  get(
    @Principal() principal: ManagementPrincipal,
    @Param('id') accountId: string,
    @Param('endpointId') endpointId: string,
    @Param('deliveryId') deliveryId: string,
  ): Promise<DeliveryView & { attemptLog: AttemptView[] }> {
    return this.webhooks.store.getDelivery(
      callerFor(principal, accountId),
      accountId,
      endpointId,
      deliveryId,
    );
  }

  @Post(':deliveryId/redeliver')
  @HttpCode(202)
  @Allow(...CAN.operate)
  @ApiOperation({
    summary: "Sends a finished delivery's event again, as a new delivery with its own id, retries and log",
  })
  redeliver(
    @Principal() principal: ManagementPrincipal,
    @Param('id') accountId: string,
    @Param('endpointId') endpointId: string,
    @Param('deliveryId') deliveryId: string,
  ): Promise<DeliveryView> {
    return this.webhooks.store.redeliver(callerFor(principal, accountId), accountId, endpointId, deliveryId);
  }
}
