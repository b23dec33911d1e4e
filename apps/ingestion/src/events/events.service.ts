import { Injectable } from '@nestjs/common';
import { AppError, USAGE_EVENTS_TOPIC } from '@metering/contracts';
import { KafkaClient } from '@metering/kafka';
import { IngestionConfig } from '../config';
import type { AuthenticatedTenant } from '../auth/tenant-auth.service';
import { checkEvents, type EventOutcome } from './intake';

export interface IngestResponse {
  accepted: number;
  duplicates: number;
  rejected: { index: number; id: string | null; reasons: string[] }[];
  results: EventOutcome[];
}

@Injectable()
export class EventsService {
  constructor(
    private readonly kafka: KafkaClient,
    private readonly config: IngestionConfig,
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
    const { records, outcomes } = checkEvents(events, tenant, Date.now());
    try {
      await this.kafka.producer().send(USAGE_EVENTS_TOPIC, records);
    } catch (err) {
      throw new AppError(
        'unavailable',
        'event_log_unavailable',
        'events could not be made durable; retry the request',
        {
          cause: (err as Error).message,
        },
      );
    }
    return {
      accepted: outcomes.filter((o) => o.status === 'accepted').length,
      duplicates: outcomes.filter((o) => o.status === 'duplicate').length,
      rejected: outcomes.flatMap((o) =>
        o.status === 'rejected' ? [{ index: o.index, id: o.id, reasons: o.reasons }] : [],
      ),
      results: outcomes,
    };
  }
}
