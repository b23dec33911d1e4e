import type * as grpc from '@grpc/grpc-js';
import { AppError, PROTO_FILES } from '@metering/contracts';
import { toQuantity, type Aggregation, type PoolingRule, type Quantity } from '@metering/meters';
import { GrpcClient } from '@metering/service-kit';

export interface UsageClientOptions {
  /** host:port of aggregation's gRPC server. */
  url: string;
  timeoutMs?: number;
}

export interface PeriodUsageQuery {
  accountId: string;
  /** Inclusive. */
  fromMs: number;
  /** Exclusive. */
  toMs: number;
  /** Empty: every meter. */
  meterKeys?: string[];
  /** Empty: every tenant of the account. */
  tenantIds?: string[];
}

/** One meter's pooled usage of a period; the tenants' `contribution`s add up to `pooled`. */
export interface MeterPeriodUsageAnswer {
  meterKey: string;
  aggregation: string;
  pooled: Quantity;
  events: number;
  tenants: { tenantId: string; contribution: Quantity; usage: Quantity; events: number }[];
}

interface PeriodUsageReply {
  meters: {
    meterKey: string;
    pooledQuantity: string;
    aggregation: string;
    events: number;
    tenants: { tenantId: string; quantity: string; usage: string; events: number }[];
  }[];
}

const quantity = (text: string): Quantity => (text ? toQuantity(text) : 0n);

/**
 * Aggregation's `metering.usage.v1.Usage` for billing: pooled usage of an account's period with
 * each tenant's part (exact decimals read as nano-unit quantities), and the meter keys it knows.
 * An unreachable aggregation is an `unavailable` error, never empty usage.
 */
export class UsageClient {
  private readonly grpc: GrpcClient;

  constructor(private readonly options: UsageClientOptions) {
    this.grpc = new GrpcClient(PROTO_FILES.usage, 'metering.usage.v1.Usage', options.url);
  }

  async periodUsage(query: PeriodUsageQuery): Promise<MeterPeriodUsageAnswer[]> {
    const reply = await this.call<PeriodUsageReply>('GetPeriodUsage', {
      accountId: query.accountId,
      fromMs: query.fromMs,
      toMs: query.toMs,
      meterKeys: query.meterKeys ?? [],
      tenantIds: query.tenantIds ?? [],
    });
    return reply.meters.map((m) => ({
      meterKey: m.meterKey,
      aggregation: m.aggregation,
      pooled: quantity(m.pooledQuantity),
      events: m.events,
      tenants: m.tenants.map((t) => ({
        tenantId: t.tenantId,
        contribution: quantity(t.quantity),
        usage: quantity(t.usage),
        events: t.events,
      })),
    }));
  }

  /** Keys of the meters in aggregation's catalog. */
  async meterKeys(): Promise<Set<string>> {
    return new Set((await this.meterKinds()).map((m) => m.key));
  }

  /** The meters of aggregation's catalog with how each pools (billing pools again over mode changes). */
  async meterKinds(): Promise<{ key: string; aggregation: Aggregation; pooling: PoolingRule }[]> {
    const reply = await this.call<{
      meters: { key: string; aggregation: Aggregation; pooling: PoolingRule }[];
    }>('ListMeters', {});
    return reply.meters.map((m) => ({ key: m.key, aggregation: m.aggregation, pooling: m.pooling }));
  }

  private call<T>(method: string, request: object): Promise<T> {
    return this.grpc
      .unary<T>(method, request, this.options.timeoutMs ?? 30_000)
      .catch((err: grpc.ServiceError) => {
        throw new AppError('unavailable', 'usage_unavailable', `aggregation's ${method} failed; retry`, {
          cause: err.details,
        });
      });
  }

  /** Readiness: the channel to aggregation connects. */
  check(): Promise<void> {
    return this.grpc.check();
  }

  close(): void {
    this.grpc.close();
  }
}
