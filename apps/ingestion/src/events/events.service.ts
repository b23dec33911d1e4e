import { Injectable } from '@nestjs/common';
import { AppError, USAGE_EVENTS_TOPIC } from '@metering/contracts';
import { IdempotencyLedger } from '@metering/ingestion-data-access';
import { KafkaClient } from '@metering/kafka';
import { IngestionConfig } from '../config';
import type { AuthenticatedTenant } from '../auth/tenant-auth.service';
import { checkEvents, type EventOutcome } from './intake';

export interface IngestResponse {
  accepted: number;
  duplicates: number;
  rejected: { index: number; id: string | null; reasons: string[] }[];
  /** Ids already accepted for this tenant and source with a different payload: nothing was overwritten. */
  conflicts: { index: number; id: string | null; reasons: string[] }[];
  results: EventOutcome[];
}

@Injectable()
export class EventsService {
  constructor(
    private readonly kafka: KafkaClient,
    private readonly config: IngestionConfig,
    private readonly ledger: IdempotencyLedger,
  ) {}

  /** Validates, publishes with acks = all, and only then reports events as accepted. */
  async ingest(tenant: AuthenticatedTenant, events: readonly unknown[]): Promise<IngestResponse> {
    if (events.length > this.config.INGEST_MAX_BATCH) {
      throw new AppError(
        'too_large',
        'batch_too_large',
        `a batch holds at most ${this.config.INGEST_MAX_BATCH} events`,
        {
          max: this.config.INGEST_MAX_BATCH,
          received: events.length,
        },
      );
    }
    const { records, keys, outcomes } = checkEvents(events, tenant, Date.now(), {
      maxLatenessMs: this.config.INGEST_MAX_LATENESS_DAYS * 86_400_000,
      maxFutureMs: this.config.INGEST_MAX_FUTURE_SECONDS * 1000,
    });
    let published = false;
    let claims;
    try {
      // Claims and publication commit together: an event is reported accepted only once Kafka has it.
      claims = await this.ledger.claimAndPublish(tenant.tenantId, keys, async (accepted) => {
        await this.kafka.producer().send(
          USAGE_EVENTS_TOPIC,
          accepted.map((i) => records[i]),
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
    claims.forEach((claim, i) => {
      const { outcome } = keys[i];
      const { index, id } = outcomes[outcome];
      if (claim === 'duplicate') outcomes[outcome] = { index, id, status: 'duplicate' };
      if (claim === 'conflict') {
        outcomes[outcome] = {
          index,
          id,
          status: 'conflict',
          reasons: ['id: already accepted with a different payload'],
        };
      }
    });
    return {
      accepted: outcomes.filter((o) => o.status === 'accepted').length,
      duplicates: outcomes.filter((o) => o.status === 'duplicate').length,
      rejected: outcomes.flatMap((o) =>
        o.status === 'rejected' ? [{ index: o.index, id: o.id, reasons: o.reasons }] : [],
      ),
      conflicts: outcomes.flatMap((o) =>
        o.status === 'conflict' ? [{ index: o.index, id: o.id, reasons: o.reasons }] : [],
      ),
      results: outcomes,
    };
  }
}
