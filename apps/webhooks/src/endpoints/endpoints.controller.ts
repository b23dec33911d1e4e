import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CAN } from '@metering/contracts';
import { Allow, ManagementKeyGuard, Principal, type ManagementPrincipal } from '@metering/registry-client';
import type { EndpointView } from '@metering/webhooks-data-access';
import { DELIVERABLE_EVENT_TYPES } from '@metering/webhooks-domain';
import { CreateEndpointDto, UpdateEndpointDto } from './endpoint.dto';
import { EndpointsService } from './endpoints.service';

@ApiTags('webhook endpoints')
@ApiBearerAuth()
@UseGuards(ManagementKeyGuard)
@Controller('v1')
export class EndpointsController {
  constructor(private readonly endpoints: EndpointsService) {}

  @Get('webhook-event-types')
  @Allow(...CAN.read)
  @ApiOperation({ summary: 'The event types endpoints can subscribe to' })
  eventTypes(): { eventTypes: readonly string[] } {
    return { eventTypes: DELIVERABLE_EVENT_TYPES };
  }

  @Post('accounts/:id/webhook-endpoints')
  @Allow(...CAN.administer)
  @ApiOperation({
    summary: 'Registers an endpoint; the answer carries its signing secret, shown this once',
  })
  create(
    @Principal() principal: ManagementPrincipal,
    @Param('id') accountId: string,
    @Body() body: CreateEndpointDto,
  ): Promise<EndpointView & { secret: string }> {
    return this.endpoints.create(principal, accountId, body);
  }

  @Get('accounts/:id/webhook-endpoints')
  @Allow(...CAN.read)
  @ApiOperation({ summary: "The account's endpoints with their health" })
  async list(
    @Principal() principal: ManagementPrincipal,
    @Param('id') accountId: string,
  ): Promise<{ endpoints: EndpointView[] }> {
    return { endpoints: await this.endpoints.list(principal, accountId) };
  }

  @Get('accounts/:id/webhook-endpoints/:endpointId')
  @Allow(...CAN.read)
  get(
    @Principal() principal: ManagementPrincipal,
    @Param('id') accountId: string,
    @Param('endpointId') endpointId: string,
  ): Promise<EndpointView> {
    return this.endpoints.get(principal, accountId, endpointId);
  }

  @Patch('accounts/:id/webhook-endpoints/:endpointId')
  @Allow(...CAN.administer)
  @ApiOperation({ summary: 'Changes subscriptions or description; enables or disables the endpoint' })
  update(
    @Principal() principal: ManagementPrincipal,
    @Param('id') accountId: string,
    @Param('endpointId') endpointId: string,
    @Body() body: UpdateEndpointDto,
  ): Promise<EndpointView> {
    return this.endpoints.update(principal, accountId, endpointId, body);
  }

  @Delete('accounts/:id/webhook-endpoints/:endpointId')
  @HttpCode(204)
  @Allow(...CAN.administer)
  @ApiOperation({ summary: 'Removes the endpoint with its delivery log; pending deliveries are dropped' })
  async delete(
    @Principal() principal: ManagementPrincipal,
    @Param('id') accountId: string,
    @Param('endpointId') endpointId: string,
  ): Promise<void> {
    await this.endpoints.delete(principal, accountId, endpointId);
  }
}
