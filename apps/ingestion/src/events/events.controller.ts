import { Body, Controller, Headers, HttpCode, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AppError } from '@metering/contracts';
import { TenantAuthService } from '../auth/tenant-auth.service';
import { EventsService, type IngestResponse } from './events.service';

export const CLOUDEVENT_MEDIA_TYPE = 'application/cloudevents+json';
export const CLOUDEVENT_BATCH_MEDIA_TYPE = 'application/cloudevents-batch+json';

@ApiTags('events')
@Controller('v1/events')
export class EventsController {
  constructor(
    private readonly events: EventsService,
    private readonly auth: TenantAuthService,
  ) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({ summary: 'Publish one usage event or a batch (CloudEvents 1.0, structured mode)' })
  @ApiConsumes(CLOUDEVENT_MEDIA_TYPE, CLOUDEVENT_BATCH_MEDIA_TYPE, 'application/json')
  @ApiAcceptedResponse({ description: 'Per-event outcome: accepted, duplicate or rejected with reasons' })
  @ApiBearerAuth()
  async ingest(
    @Body() body: unknown,
    @Headers('content-type') contentType = '',
    @Headers('authorization') authorization?: string,
  ): Promise<IngestResponse> {
    const tenant = await this.auth.authenticate(authorization);
    const result = await this.events.ingest(tenant, asEventList(body, contentType));
    // One event sent on its own: a conflict is the answer to the request.
    if (!Array.isArray(body) && result.conflicts.length) {
      throw new AppError(
        'conflict',
        'event_conflict',
        'this id was already accepted with a different payload',
        result.conflicts[0],
      );
    }
    return result;
  }
}

function asEventList(body: unknown, contentType: string): unknown[] {
  const mediaType = contentType.split(';')[0].trim().toLowerCase();
  const batch = mediaType === CLOUDEVENT_BATCH_MEDIA_TYPE;
  if (batch && !Array.isArray(body)) {
    throw new AppError(
      'invalid',
      'invalid_batch',
      `a ${CLOUDEVENT_BATCH_MEDIA_TYPE} body must be a JSON array`,
    );
  }
  if (mediaType === CLOUDEVENT_MEDIA_TYPE && Array.isArray(body)) {
    throw new AppError(
      'invalid',
      'invalid_event',
      `a ${CLOUDEVENT_MEDIA_TYPE} body must be one JSON object; send arrays as ${CLOUDEVENT_BATCH_MEDIA_TYPE}`,
    );
  }
  return Array.isArray(body) ? body : [body];
}
