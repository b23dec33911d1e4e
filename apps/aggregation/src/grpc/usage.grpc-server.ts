import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { AppError, PROTO_FILES } from '@metering/contracts';
import { LOGGER, type Logger } from '@metering/observability';
import { GrpcServer } from '@metering/service-kit';
import { AggregationConfig } from '../config';
import { MeterCatalogService } from '../meters/meter-catalog.service';
import { UsageService } from '../usage/usage.service';

interface PeriodUsageRequest {
  accountId: string;
  fromMs: number;
  toMs: number;
  meterKeys: string[];
  tenantIds: string[];
}

/** Every asked meter's pooled usage of the period, with each tenant's part. */
async function periodUsage(usage: UsageService, meters: MeterCatalogService, request: PeriodUsageRequest) {
  if (!request.accountId) {
    throw new AppError('invalid', 'validation_failed', 'account_id is required', { field: 'account_id' });
  }
  const keys = request.meterKeys.length ? request.meterKeys : (await meters.list()).map((m) => m.key);
  // Meters read at once: each is a few ClickHouse queries that wait on the server, not on this process.
  const results = await Promise.all(
    keys.map(async (meter) => {
      const result = await usage.usage({
        meter,
        accountId: request.accountId,
        tenantIds: request.tenantIds,
        fromMs: request.fromMs,
        toMs: request.toMs,
      });
      return {
        meterKey: result.meter,
        aggregation: result.aggregation,
        pooledQuantity: result.value,
        events: result.events,
        tenants: result.tenants.map((t) => ({
          tenantId: t.tenantId,
          quantity: t.contribution,
          usage: t.usage,
          events: t.events,
        })),
      };
    }),
  );
  return { meters: results };
}

/** gRPC `metering.usage.v1.Usage`: the meter catalog for ingestion, period usage for billing. */
@Injectable()
export class UsageGrpcServer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly server: GrpcServer;

  constructor(
    meters: MeterCatalogService,
    usage: UsageService,
    config: AggregationConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
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
        GetPeriodUsage: (request: PeriodUsageRequest) => periodUsage(usage, meters, request),
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
