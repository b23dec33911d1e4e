import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { MeterCatalogClient } from '@metering/aggregation-client';
import {
  AppError,
  USAGE_EVENTS_TOPIC,
  type UsageEventBatch,
  type UsageEventRecord,
} from '@metering/contracts';
import { IdempotencyLedger, type ClaimOutcome } from '@metering/ingestion-data-access';
import { KafkaClient } from '@metering/kafka';
import { HealthRegistry, LOGGER, type Logger } from '@metering/observability';
import { IngestionConfig } from '../config';
import { ClosedPeriodsService } from '../closed-periods/closed-periods.service';
import { checkEvents, type EventOutcome, type IntakeResult } from './intake';
import { TenantRateLimiter, overRateError } from './tenant-rate-limiter';

export interface Rejection {
  index: number;
  id: string | null;
  reasons: string[];
}

export interface IngestResponse {
  accepted: number;
  duplicates: number;
  rejected: Rejection[];
  /** Ids already accepted for this tenant and source with a different payload: nothing was overwritten. */
  conflicts: Rejection[];
  results: EventOutcome[];
}

export interface IngestingTenant {
  tenantId: string;
  accountId: string;
}

/** Largest packed message sent to `usage.events.v1`, by an estimate of its JSON size. */
const MAX_PACK_CHARS = 256 * 1024;

/**
 * The intake every path shares (REST, gRPC, direct Kafka): validate each event against the
 * contract and the meter catalog, claim its id in the idempotency ledger, publish the new ones
 * with acks = all, and only then report them accepted.
 */
@Injectable()
export class EventsService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly meters: MeterCatalogClient;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly config: IngestionConfig,
    private readonly ledger: IdempotencyLedger,
    private readonly closedPeriods: ClosedPeriodsService,
    private readonly limiter: TenantRateLimiter,
    health: HealthRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.meters = new MeterCatalogClient({ url: config.METERS_GRPC_URL, refreshMs: config.METER_REFRESH_MS });
    health.register({ name: 'meter-catalog', check: () => this.meters.check() });
  }

  onApplicationBootstrap(): void {
    this.meters.start((err) =>
      this.logger.warn({ err }, 'meter catalog refresh failed; keeping the last one'),
    );
  }

  onModuleDestroy(): void {
    this.meters.close();
  }

  /** A producer's request: size and rate limits first, then {@link intake}. */
  async ingest(tenant: IngestingTenant, events: readonly unknown[]): Promise<IngestResponse> {
    const max = this.config.INGEST_MAX_BATCH;
    if (events.length > max) {
      throw new AppError('too_large', 'batch_too_large', `a batch holds at most ${max} events`, {
        max,
        received: events.length,
      });
    }
    const retryAfterSeconds = this.limiter.take(tenant.tenantId, events.length);
    if (retryAfterSeconds > 0) throw overRateError(this.limiter, tenant.tenantId, retryAfterSeconds);
    return summarize(await this.intake(tenant, events));
  }

  /** Validates, claims and publishes; the outcome of every event, in order. */
  async intake(tenant: IngestingTenant, events: readonly unknown[]): Promise<EventOutcome[]> {
    const receivedAtMs = Date.now();
    const catalog = await this.meters.catalogFor(eventTypes(events));
    const intake = checkEvents(events, tenant, receivedAtMs, {
      catalog,
      maxLatenessMs: this.config.INGEST_MAX_LATENESS_DAYS * 86_400_000,
      maxFutureMs: this.config.INGEST_MAX_FUTURE_SECONDS * 1000,
      maxDataChars: this.config.INGEST_MAX_DATA_CHARS,
      closedThroughMs: this.closedPeriods.closedThrough(tenant.accountId),
    });
    const claims = await this.claimAndPublish(tenant.tenantId, intake);
    const { outcomes, keys } = intake;
    claims.forEach((claim, i) => {
      const { index, id } = outcomes[keys[i].outcome];
      if (claim === 'duplicate') outcomes[keys[i].outcome] = { index, id, status: 'duplicate' };
      if (claim === 'conflict') {
        const reasons = ['id: already accepted with a different payload'];
        outcomes[keys[i].outcome] = { index, id, status: 'conflict', reasons };
      }
    });
    return outcomes;
  }

  private async claimAndPublish(tenantId: string, { records, keys }: IntakeResult): Promise<ClaimOutcome[]> {
    let published = false;
    try {
      // Claims and publication commit together: an event is reported accepted only once Kafka has it.
      return await this.ledger.claimAndPublish(tenantId, keys, async (accepted) => {
        await this.kafka.producer().send(
          USAGE_EVENTS_TOPIC,
          pack(
            tenantId,
            accepted.map((i) => records[i]),
            accepted.map((i) => keys[i].size),
          ),
        );
        published = true;
      });
    } catch (err) {
      throw new AppError(
        'unavailable',
        published ? 'idempotency_store_unavailable' : 'event_log_unavailable',
        'events could not be made durable; retry the request',
        { cause: (err as Error).message },
      );
    }
  }
}

function eventTypes(events: readonly unknown[]): Set<string> {
  const types = new Set<string>();
  for (const e of events) {
    const type = (e as { type?: unknown } | null)?.type;
    if (typeof type === 'string') types.add(type);
  }
  return types;
}

/** One tenant's accepted records as few `usage.events.v1` messages as the size bound allows. */
export function pack(
  tenantId: string,
  records: UsageEventRecord[],
  /** Each record's estimated JSON size. */
  sizes: number[],
  maxChars = MAX_PACK_CHARS,
): UsageEventBatch[] {
  const batches: UsageEventBatch[] = [];
  let current: UsageEventRecord[] = [];
  let size = 0;
  for (const [i, record] of records.entries()) {
    const recordSize = sizes[i];
    if (current.length && size + recordSize > maxChars) {
      batches.push({ tenantId, records: current });
      current = [];
      size = 0;
    }
    current.push(record);
    size += recordSize;
  }
  if (current.length) batches.push({ tenantId, records: current });
  return batches;
}

export function summarize(outcomes: EventOutcome[]): IngestResponse {
  const response: IngestResponse = {
    accepted: 0,
    duplicates: 0,
    rejected: [],
    conflicts: [],
    results: outcomes,
  };
  for (const o of outcomes) {
    if (o.status === 'accepted') response.accepted++;
    else if (o.status === 'duplicate') response.duplicates++;
    else {
      const { index, id, reasons } = o;
      (o.status === 'rejected' ? response.rejected : response.conflicts).push({ index, id, reasons });
    }
  }
  return response;
}
