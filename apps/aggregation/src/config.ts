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

  /**
   * How long the sink gathers fetched batches into one write (it keeps fetching meanwhile):
   * fewer, larger inserts and fewer parts for ClickHouse to merge, at the cost of up to this
   * much later queryability. 0 writes each fetch's batches as they come.
   */
  @IsInt()
  @Min(0)
  @Max(10_000)
  SINK_FLUSH_MS: number = 250;

  /**
   * Longest a sink fetch waits when there is nothing to read; a broker answers a waiting fetch
   * as soon as data arrives. The dev stack's mock broker holds such a fetch for the whole wait
   * even when data arrives meanwhile, so the stack sets 20.
   */
  @IsInt()
  @Min(1)
  @Max(10_000)
  SINK_FETCH_WAIT_MS: number = 500;

  /** How often the rollup builder looks for stale hours; 0 turns it off (queries then read raw rows). */
  @IsInt()
  @Min(0)
  ROLLUP_INTERVAL_MS: number = 1_000;

  /** An hour is rebuilt once no event reached it for this long… */
  @IsInt()
  @Min(0)
  ROLLUP_SETTLE_MS: number = 2_000;

  /** …or once it has been stale this long, even while events keep arriving. */
  @IsInt()
  @Min(0)
  ROLLUP_MAX_STALE_MS: number = 30_000;

  /** Most account-hours rebuilt per round. */
  @IsInt()
  @Min(1)
  ROLLUP_BATCH_HOURS: number = 1_000;

  /**
   * How long tenant lookups (status, limits) are reused for entitlement checks. Suspensions,
   * deletions and limit changes on `registry.events.v1` drop them at once; this bounds staleness
   * only while that consumer lags.
   */
  @IsInt()
  @Min(0)
  TENANT_CACHE_TTL_MS: number = 60_000;

  /** How often accounts whose usage the sink wrote are evaluated against their plan's quotas. */
  @IsInt()
  @Min(0)
  QUOTA_EVAL_INTERVAL_MS: number = 2_000;

  /** How long a plan and the pooled usage behind entitlement checks are reused before a background refresh. */
  @IsInt()
  @Min(0)
  QUOTA_REFRESH_MS: number = 5_000;

  /** Consumer group of the plan changes billing announces on `billing.events.v1`. */
  @Matches(/^[A-Za-z0-9._-]+$/)
  PLAN_CONSUMER_GROUP: string = 'aggregation.plans';

  /**
   * Fault injection for tests, empty in production: the sink kills its own process (SIGKILL)
   * after inserting a batch that holds an event of this tenant, before committing the offset.
   */
  @IsString()
  FAULT_CRASH_AFTER_INSERT_TENANT: string = '';
}
