import { ArrayNotEmpty, IsInt, IsString, Matches, Min } from 'class-validator';
import { DatabaseServiceConfig, EnvList, Secret } from '@metering/config';

/** Domain-event topics, `<producer>.events.v1`; raw usage (`usage.events.v1`) is not audited. */
const DOMAIN_TOPIC = /^(?!usage\.)[a-z][a-z0-9-]*\.events\.v1$/;

export class AuditConfig extends DatabaseServiceConfig {
  override PORT: number = 3005;
  override DATABASE_URL: string = 'postgres://postgres@127.0.0.1:5432/metering_audit';

  /** Login role requests and the consumer run as: may read and append, never update or delete. */
  @Matches(/^[a-z_][a-z0-9_]{0,62}$/)
  DATABASE_APP_ROLE: string = 'audit_app';

  @IsString()
  @Secret()
  DATABASE_APP_PASSWORD: string = 'audit_app';

  /** Topics recorded; each is a domain-event topic with its own dead-letter topic. */
  @EnvList()
  @ArrayNotEmpty()
  @Matches(DOMAIN_TOPIC, { each: true, message: 'each topic must be <producer>.events.v1, not usage' })
  AUDIT_TOPICS: string[] = [
    'registry.events.v1',
    'billing.events.v1',
    'quota.events.v1',
    'webhooks.events.v1',
  ];

  @Matches(/^[A-Za-z0-9._-]+$/)
  AUDIT_CONSUMER_GROUP: string = 'audit.log';

  /**
   * Ed25519 seed (32 bytes, base64url) that signs exported chain heads and retention
   * checkpoints. The default is a development key: set your own anywhere else.
   */
  @Matches(/^[A-Za-z0-9_-]{43}$/, { message: 'must be a 32-byte Ed25519 seed in base64url (43 characters)' })
  @Secret()
  AUDIT_SIGNING_KEY: string = 'ZGV2ZWxvcG1lbnQtb25seS1hdWRpdC1zaWduaW5nLWs';

  /** How often entries past their account's retention are pruned (behind a signed checkpoint). */
  @IsInt()
  @Min(1_000)
  AUDIT_PRUNE_INTERVAL_MS: number = 3_600_000;

  /** The registry's gRPC address (management keys). */
  @Matches(/^[^\s:]+:\d{1,5}$/)
  REGISTRY_GRPC_URL: string = '127.0.0.1:50051';

  /** How long management-key checks are reused. */
  @IsInt()
  @Min(0)
  KEY_CACHE_TTL_MS: number = 5_000;
}

/** The development default of AUDIT_SIGNING_KEY, which the service warns about at boot. */
export const DEVELOPMENT_SIGNING_KEY = new AuditConfig().AUDIT_SIGNING_KEY;
