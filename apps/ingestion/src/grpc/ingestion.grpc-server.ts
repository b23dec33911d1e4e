import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { PROTO_FILES } from '@metering/contracts';
import { LOGGER, type Logger } from '@metering/observability';
import { GrpcServer } from '@metering/service-kit';
import { TenantAuthService } from '../auth/tenant-auth.service';
import { IngestionConfig } from '../config';
import { EventsService, type IngestResponse } from '../events/events.service';

const NOT_JSON = Symbol('not JSON');

/** gRPC `metering.ingestion.v1.Ingestion` for internal producers: POST /v1/events' semantics. */
@Injectable()
export class IngestionGrpcServer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly server: GrpcServer;

  constructor(
    private readonly events: EventsService,
    private readonly auth: TenantAuthService,
    config: IngestionConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.server = new GrpcServer(
      {
        protoPath: PROTO_FILES.ingestion,
        service: 'metering.ingestion.v1.Ingestion',
        url: `0.0.0.0:${config.GRPC_PORT}`,
      },
      { Ingest: (request: { apiKey?: string; eventsJson?: string[] }) => this.ingest(request) },
      logger,
    );
  }

  onApplicationBootstrap(): Promise<void> {
    return this.server.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.server.stop();
  }

  private async ingest(request: {
    apiKey?: string;
    eventsJson?: string[];
  }): Promise<Omit<IngestResponse, 'results'>> {
    const tenant = await this.auth.authenticate(`Bearer ${request.apiKey ?? ''}`);
    const events = (request.eventsJson ?? []).map((json) => {
      try {
        return JSON.parse(json) as unknown;
      } catch {
        return NOT_JSON;
      }
    });
    const response = await this.events.ingest(tenant, events);
    for (const rejection of response.rejected) {
      if (events[rejection.index] === NOT_JSON) rejection.reasons = ['$: not valid JSON'];
    }
    return {
      accepted: response.accepted,
      duplicates: response.duplicates,
      rejected: response.rejected.map((r) => ({ ...r, id: r.id ?? '' })),
      conflicts: response.conflicts.map((r) => ({ ...r, id: r.id ?? '' })),
    };
  }
}
