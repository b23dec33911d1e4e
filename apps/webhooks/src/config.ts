import { IsArray, IsInt, IsString, Matches, Max, Min, ValidateBy } from 'class-validator';
import { DatabaseServiceConfig, EnvList, Secret } from '@metering/config';
import { parseNetwork } from '@metering/webhooks-domain';

const DAY_MS = 86_400_000;

/** Each entry a network in CIDR notation (or a single address). */
const IsNetworkList = () =>
  ValidateBy(
    {
      name: 'isNetworkList',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && parseNetwork(value) !== undefined,
        defaultMessage: () => 'each entry must be a network in CIDR notation, e.g. 10.20.0.0/16 or fd00::/8',
      },
    },
    { each: true },
  );

export class WebhooksConfig extends DatabaseServiceConfig {
  override PORT: number = 3006;
  override DATABASE_URL: string = 'postgres://postgres@127.0.0.1:5432/metering_webhooks';

  /** Login role requests, the consumer and the worker run as (row-level security applies). */
  @Matches(/^[a-z_][a-z0-9_]{0,62}$/)
  DATABASE_APP_ROLE: string = 'webhooks_app';

  @IsString()
  @Secret()
  DATABASE_APP_PASSWORD: string = 'webhooks_app';

  /** The registry's gRPC address (management keys). */
  @Matches(/^[^\s:]+:\d{1,5}$/)
  REGISTRY_GRPC_URL: string = '127.0.0.1:50051';

  @IsInt()
  @Min(0)
  KEY_CACHE_TTL_MS: number = 5_000;

  /** Consumer group over registry, billing and quota events. */
  @Matches(/^[A-Za-z0-9._-]+$/)
  WEBHOOK_CONSUMER_GROUP: string = 'webhooks.delivery';

  /**
   * AES-256-GCM key (32 bytes, base64url) that keeps endpoint signing secrets encrypted in the
   * database. The default is a development key: set your own anywhere else, and keep it (a new
   * key cannot open secrets sealed under the old one).
   */
  @Matches(/^[A-Za-z0-9_-]{43}$/, { message: 'must be a 32-byte key in base64url (43 characters)' })
  @Secret()
  WEBHOOK_SECRET_KEY: string = 'ZGV2ZWxvcG1lbnQtb25seS13ZWJob29rLXNlY3JldHM';

  /**
   * Networks deliveries may reach although they are not public (loopback, private, link-local,
   * unique-local, …), as CIDRs. Empty by default: only public addresses.
   */
  @EnvList()
  @IsArray()
  @IsNetworkList()
  WEBHOOK_ALLOWED_PRIVATE_NETWORKS: string[] = [];

  /** Whole attempt, connection to end of answer. */
  @IsInt()
  @Min(100)
  @Max(60_000)
  WEBHOOK_TIMEOUT_MS: number = 10_000;

  /** Bytes of an answer read and kept in the log; the connection is closed past them. */
  @IsInt()
  @Min(0)
  @Max(1_048_576)
  WEBHOOK_MAX_RESPONSE_BYTES: number = 4_096;

  /** Backoff after the first failure, doubled per failure (with jitter) up to WEBHOOK_RETRY_MAX_MS. */
  @IsInt()
  @Min(10)
  WEBHOOK_RETRY_BASE_MS: number = 30_000;

  @IsInt()
  @Min(10)
  WEBHOOK_RETRY_MAX_MS: number = 4 * 3_600_000;

  /** How long after its event a delivery is still attempted. */
  @IsInt()
  @Min(1_000)
  WEBHOOK_RETRY_HORIZON_MS: number = 3 * DAY_MS;

  /** An endpoint is disabled after this many failed attempts in a row … */
  @IsInt()
  @Min(1)
  WEBHOOK_DISABLE_AFTER_FAILURES: number = 15;

  /** … once it has also failed, without a success, for this long. */
  @IsInt()
  @Min(0)
  WEBHOOK_DISABLE_AFTER_MS: number = 3 * DAY_MS;

  /** Attempts in flight at once in this process. */
  @IsInt()
  @Min(1)
  @Max(1_000)
  WEBHOOK_WORKER_CONCURRENCY: number = 16;

  /** Attempts in flight at once per endpoint in this process: a slow endpoint cannot take every slot. */
  @IsInt()
  @Min(1)
  WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT: number = 4;

  /** How often the worker looks for due deliveries when nothing woke it. */
  @IsInt()
  @Min(10)
  WEBHOOK_POLL_INTERVAL_MS: number = 1_000;

  @IsInt()
  @Min(1)
  @Max(1_000)
  WEBHOOK_MAX_ENDPOINTS_PER_ACCOUNT: number = 16;

  /** Finished deliveries (and their attempts) are kept this long. */
  @IsInt()
  @Min(1)
  WEBHOOK_LOG_RETENTION_DAYS: number = 30;
}

/** The development default of WEBHOOK_SECRET_KEY, which the service warns about at boot. */
export const DEVELOPMENT_SECRET_KEY = new WebhooksConfig().WEBHOOK_SECRET_KEY;
