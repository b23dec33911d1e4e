import { IsInt, Matches, Max, Min } from 'class-validator';
import { DatabaseServiceConfig } from '@metering/config';

export class IngestionConfig extends DatabaseServiceConfig {
  override PORT: number = 3002;
  override DATABASE_URL: string = 'postgres://postgres@127.0.0.1:5432/metering_ingestion';

  /** Most events one batch request may carry. */
  @IsInt()
  @Min(1)
  @Max(100_000)
  INGEST_MAX_BATCH: number = 1_000;

  /** Largest `data` of one event, in characters of its JSON. */
  @IsInt()
  @Min(64)
  @Max(262_144)
  INGEST_MAX_DATA_CHARS: number = 32_768;

  /** Events per second each tenant may send (per instance); 429 with Retry-After above it. */
  @IsInt()
  @Min(1)
  INGEST_TENANT_EVENTS_PER_SECOND: number = 25_000;

  /** Events a tenant may send at once above its rate (the token bucket's size). */
  @IsInt()
  @Min(1)
  INGEST_TENANT_BURST_EVENTS: number = 50_000;

  /** gRPC ingest (same semantics as POST /v1/events) listens here. */
  @IsInt()
  @Min(1)
  @Max(65535)
  GRPC_PORT: number = 50052;

  /** Consumer group reading direct producers' events from usage.ingest.v1. */
  @Matches(/^[A-Za-z0-9._-]+$/)
  INGEST_CONSUMER_GROUP: string = 'ingestion.direct-intake';

  /** Aggregation's gRPC address, for the meter catalog. */
  @Matches(/^[^\s:]+:\d{1,5}$/)
  METERS_GRPC_URL: string = '127.0.0.1:50053';

  /** How often the meter catalog is fetched again (an unknown event type also fetches it). */
  @IsInt()
  @Min(1_000)
  METER_REFRESH_MS: number = 30_000;

  /** Largest request body in bytes (413 above it). */
  @IsInt()
  @Min(1_024)
  INGEST_MAX_BODY_BYTES: number = 1_048_576;

  /** Events older than this (by their `time`, at receipt) are rejected. */
  @IsInt()
  @Min(0)
  @Max(3650)
  INGEST_MAX_LATENESS_DAYS: number = 35;

  /** Events more than this far ahead of the receiving clock are rejected. */
  @IsInt()
  @Min(0)
  @Max(86_400)
  INGEST_MAX_FUTURE_SECONDS: number = 300;

  /** The registry's gRPC address, for API-key verification. */
  @Matches(/^[^\s:]+:\d{1,5}$/)
  REGISTRY_GRPC_URL: string = '127.0.0.1:50051';

  /** How long a key check is reused; suspensions and revocations also drop it at once via registry.events.v1. */
  @IsInt()
  @Min(0)
  KEY_CACHE_TTL_MS: number = 5_000;

  /** Consumer group that records billing's finalized periods (late events of `reject` meters are refused). */
  @Matches(/^[A-Za-z0-9._-]+$/)
  CLOSED_PERIODS_CONSUMER_GROUP: string = 'ingestion.closed-periods';

  /** How often each instance reads the finalized periods again. */
  @IsInt()
  @Min(100)
  CLOSED_PERIODS_REFRESH_MS: number = 5_000;
}
