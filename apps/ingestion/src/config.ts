import { IsInt, Max, Min } from 'class-validator';
import { ServiceConfig } from '@metering/config';

export class IngestionConfig extends ServiceConfig {
  override PORT: number = 3002;

  /** Most events one batch request may carry. */
  @IsInt()
  @Min(1)
  @Max(100_000)
  INGEST_MAX_BATCH: number = 1_000;

  /** Largest request body in bytes (413 above it). */
  @IsInt()
  @Min(1_024)
  INGEST_MAX_BODY_BYTES: number = 1_048_576;
}
