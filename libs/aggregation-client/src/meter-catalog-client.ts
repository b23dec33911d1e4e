import type * as grpc from '@grpc/grpc-js';
import { AppError, PROTO_FILES } from '@metering/contracts';
import {
  CatalogReader,
  MeterCatalog,
  type Aggregation,
  type LateEventPolicy,
  type Meter,
  type PoolingRule,
} from '@metering/meters';
import { GrpcClient } from '@metering/service-kit';

export interface MeterCatalogClientOptions {
  /** host:port of aggregation's gRPC server. */
  url: string;
  /** How often the catalog is fetched again in the background. */
  refreshMs: number;
  /** An event of a type the catalog does not know fetches it again, at most this often. */
  minRefreshIntervalMs?: number;
  timeoutMs?: number;
}

interface MeterMessage {
  key: string;
  name: string;
  eventType: string;
  aggregation: string;
  valueProperty: string;
  groupBy: string[];
  pooling: string;
  bucketSeconds: number;
  allowNegative: boolean;
  lateEvents: string;
  unit: string;
}

const fromMessage = (m: MeterMessage): Meter => ({
  key: m.key,
  name: m.name,
  eventType: m.eventType,
  aggregation: m.aggregation as Aggregation,
  ...(m.valueProperty ? { valueProperty: m.valueProperty } : {}),
  groupBy: m.groupBy,
  pooling: m.pooling as PoolingRule,
  ...(m.bucketSeconds ? { bucketSeconds: m.bucketSeconds } : {}),
  allowNegative: m.allowNegative,
  lateEvents: m.lateEvents as LateEventPolicy,
  unit: m.unit,
});

/**
 * Aggregation's meter catalog, held locally: fetched at start, again in the background, and at
 * once when an event names a type the local copy does not know (a meter created moments ago),
 * so validation never waits on aggregation for known types.
 */
export class MeterCatalogClient {
  private readonly grpc: GrpcClient;
  private readonly reader: CatalogReader;
  private timer?: NodeJS.Timeout;

  constructor(private readonly options: MeterCatalogClientOptions) {
    this.grpc = new GrpcClient(PROTO_FILES.usage, 'metering.usage.v1.Usage', options.url);
    this.reader = new CatalogReader(() => this.fetch(), options.minRefreshIntervalMs ?? 1_000);
  }

  /** Fetches the catalog now (one fetch at a time). */
  refresh(): Promise<MeterCatalog> {
    return this.reader.read();
  }

  private fetch(): Promise<MeterCatalog> {
    return this.grpc
      .unary<{ meters: MeterMessage[] }>('ListMeters', {}, this.options.timeoutMs ?? 2_000)
      .then(
        (reply) => new MeterCatalog(reply.meters.map(fromMessage)),
        (err: grpc.ServiceError) => {
          throw new AppError(
            'unavailable',
            'meter_catalog_unavailable',
            'the meter catalog cannot be read; retry',
            {
              cause: err.details,
            },
          );
        },
      );
  }

  /**
   * The catalog for events of `eventTypes`. When one of them is unknown (a meter created a moment
   * ago), the answer comes from a fetch begun after this call, no sooner than
   * minRefreshIntervalMs after the previous fetch began: a flood of unknown types costs
   * aggregation at most one fetch per interval, and a new meter is never missed.
   */
  async catalogFor(eventTypes: Iterable<string>): Promise<MeterCatalog> {
    const current = this.reader.current ?? (await this.reader.read());
    for (const type of eventTypes) if (!current.knows(type)) return this.reader.fresh();
    return current;
  }

  /** Starts background refreshes; failures keep the last catalog. */
  start(onError: (err: unknown) => void): void {
    const refresh = () => void this.refresh().catch(onError);
    refresh();
    this.timer = setInterval(refresh, this.options.refreshMs);
    this.timer.unref();
  }

  /** Readiness: a catalog has been fetched. */
  check(): Promise<void> {
    return this.reader.current ? Promise.resolve() : this.refresh().then(() => undefined);
  }

  close(): void {
    clearInterval(this.timer);
    this.grpc.close();
  }
}
