import { IsInt, IsString, IsUrl, Matches, Max, Min } from 'class-validator';
import { DatabaseServiceConfig, Secret } from '@metering/config';

export class AggregationConfig extends DatabaseServiceConfig {
  override PORT: number = 3003;
  override DATABASE_URL: string = 'postgres://postgres@127.0.0.1:5432/metering_aggregation';

  /** gRPC (meter catalog for ingestion, period usage for billing) listens here. */
  @IsInt()
  @Min(1)
  @Max(65535)
  GRPC_PORT: number = 50053;

  @IsUrl({ require_tld: false, protocols: ['http', 'https'] })
  CLICKHOUSE_URL: string = 'http://127.0.0.1:8123';

  @Matches(/^[A-Za-z_][A-Za-z0-9_]*$/)
  CLICKHOUSE_DATABASE: string = 'metering';

  @IsString()
  CLICKHOUSE_USER: string = 'default';

  @IsString()
  @Secret()
  CLICKHOUSE_PASSWORD: string = '';

  @Matches(/^[A-Za-z0-9._-]+$/)
  USAGE_CONSUMER_GROUP: string = 'aggregation.usage-sink';

  /** The registry's gRPC address (management keys, tenant lookups). */
  @Matches(/^[^\s:]+:\d{1,5}$/)
  REGISTRY_GRPC_URL: string = '127.0.0.1:50051';

  /** How long management-key checks and tenant lookups are reused. */
  @IsInt()
  @Min(0)
  KEY_CACHE_TTL_MS: number = 5_000;
}
