import { Injectable } from '@nestjs/common';
import type { ManagementPrincipal } from '@metering/registry-client';
import type { EndpointView } from '@metering/webhooks-data-access';
import { checkEndpointUrl, invalidField } from '@metering/webhooks-domain';
import { callerFor } from '../caller';
import { WebhooksService } from '../webhooks.service';
import type { CreateEndpointDto, UpdateEndpointDto } from './endpoint.dto';

/** Registering and changing endpoints: the URL's form and destination are checked before it is stored. */
@Injectable()
export class EndpointsService {
  constructor(private readonly webhooks: WebhooksService) {}

  async create(
    principal: ManagementPrincipal,
    accountId: string,
    body: CreateEndpointDto,
  ): Promise<EndpointView & { secret: string }> {
    const caller = callerFor(principal, accountId);
    const check = checkEndpointUrl(body.url);
    if (!check.ok) throw invalidField('url', [check.reason]);
    // Checked here for a clear answer; every delivery checks the address it connects to again.
    const problem = await this.webhooks.transport.destinationProblem(check.url);
    if (problem) throw invalidField('url', [`url must point to an address deliveries may reach: ${problem}`]);
    const { endpoint, secret } = await this.webhooks.store.createEndpoint(caller, accountId, {
      url: check.url.href,
      eventTypes: body.eventTypes,
      description: body.description ?? '',
    });
    return { ...endpoint, secret };
  }

  list(principal: ManagementPrincipal, accountId: string): Promise<EndpointView[]> {
    return this.webhooks.store.listEndpoints(callerFor(principal, accountId), accountId);
  }

  get(principal: ManagementPrincipal, accountId: string, endpointId: string): Promise<EndpointView> {
    return this.webhooks.store.getEndpoint(callerFor(principal, accountId), accountId, endpointId);
  }

  update(
    principal: ManagementPrincipal,
    accountId: string,
    endpointId: string,
    body: UpdateEndpointDto,
  ): Promise<EndpointView> {
    return this.webhooks.store.updateEndpoint(callerFor(principal, accountId), accountId, endpointId, body);
  }

  delete(principal: ManagementPrincipal, accountId: string, endpointId: string): Promise<void> {
    return this.webhooks.store.deleteEndpoint(callerFor(principal, accountId), accountId, endpointId);
  }
}
