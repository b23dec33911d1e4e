import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { DatabaseServiceConfig, Secret } from '@metering/config';

export class TenantRegistryConfig extends DatabaseServiceConfig {
  override PORT: number = 3001;
  override DATABASE_URL: string = 'postgres://postgres@127.0.0.1:5432/metering_tenant_registry';

  /** Login role requests run as (row-level security applies to it); created by migrations. */
  @Matches(/^[a-z_][a-z0-9_]{0,62}$/)
  DATABASE_APP_ROLE: string = 'registry_app';

  @IsString()
  @Secret()
  DATABASE_APP_PASSWORD: string = 'registry_app';

  /** gRPC (VerifyKey, GetTenant) listens here. */
  @IsInt()
  @Min(1)
  @Max(65535)
  GRPC_PORT: number = 50051;

  /** A platform-admin management key ensured at boot; when unset and none exists, one is generated and printed once. */
  @IsOptional()
  @Matches(/^mk_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{43}$/, { message: 'must be a management key (mk_<12>_<43>)' })
  @Secret()
  REGISTRY_BOOTSTRAP_ADMIN_KEY?: string;

  /** How long VerifyKey answers are cached in the registry; a revoked key fails within this. */
  @IsInt()
  @Min(0)
  KEY_CACHE_TTL_MS: number = 5_000;

  /** How often deleted tenants past their retention are purged. */
  @IsInt()
  @Min(1_000)
  PURGE_INTERVAL_MS: number = 60_000;
}
