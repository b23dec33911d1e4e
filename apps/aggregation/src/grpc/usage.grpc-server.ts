import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { AppError, PROTO_FILES } from '@metering/contracts';
import { LOGGER, type Logger } from '@metering/observability';
import { GrpcServer } from '@metering/service-kit';
import { AggregationConfig } from '../config';
import { MeterCatalogService } from '../meters/meter-catalog.service';

/** gRPC `metering.usage.v1.Usage`: the meter catalog for ingestion. */
@Injectable()
export class UsageGrpcServer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly server: GrpcServer;

  constructor(meters: MeterCatalogService, config: AggregationConfig, @Inject(LOGGER) logger: Logger) {
    this.server = new GrpcServer(
      {
        protoPath: PROTO_FILES.usage,
        service: 'metering.usage.v1.Usage',
        url: `0.0.0.0:${config.GRPC_PORT}`,
      },
      {
        ListMeters: async () => ({
          meters: (await meters.list()).map((m) => ({ ...m, bucketSeconds: m.bucketSeconds ?? 0 })),
        }),
        GetPeriodUsage: () =>
          Promise.reject(new AppError('unsupported', 'not_implemented', 'period usage is not served yet')),
      },
      logger,
    );
  }

  onApplicationBootstrap(): Promise<void> {
    return this.server.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.server.stop();
  }
}
