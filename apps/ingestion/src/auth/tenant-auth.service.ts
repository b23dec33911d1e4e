import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { AppError, type DomainEventEnvelope } from '@metering/contracts';
import { KafkaClient, type BatchConsumer } from '@metering/kafka';
import { HealthRegistry, LOGGER, enrichContext, type Logger } from '@metering/observability';
import { RegistryClient, followRegistryChanges } from '@metering/registry-client';
import { IngestionConfig } from '../config';

export interface AuthenticatedTenant {
  tenantId: string;
  accountId: string;
}

/** The secret of an `Authorization: Bearer <key>` header; empty when the header is not one. */
function bearerSecret(authorization: string | undefined): string {
  const [scheme, secret] = (authorization ?? '').split(' ');
  return scheme === 'Bearer' && secret ? secret : '';
}

/**
 * Who is sending: the tenant behind an API key with scope `ingest`, checked through the
 * registry's gRPC with a local cache. Registry events drop cached answers as soon as a tenant
 * is suspended, resumed or deleted or a key is revoked; the TTL bounds staleness otherwise.
 */
@Injectable()
export class TenantAuthService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly registry: RegistryClient;
  private readonly invalidations: BatchConsumer<DomainEventEnvelope>;

  constructor(
    config: IngestionConfig,
    kafka: KafkaClient,
    health: HealthRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.registry = new RegistryClient({
      url: config.REGISTRY_GRPC_URL,
      cacheTtlMs: config.KEY_CACHE_TTL_MS,
    });
    health.register({ name: 'registry', check: () => this.registry.check() });
    this.invalidations = followRegistryChanges(kafka, this.registry, 'ingestion');
  }

  onApplicationBootstrap(): void {
    this.invalidations
      .start()
      .catch((err: unknown) => this.logger.error({ err }, 'key-cache invalidation consumer failed'));
  }

  async onModuleDestroy(): Promise<void> {
    await this.invalidations.stop();
    this.registry.close();
  }

  /** The tenant a direct Kafka producer names, if it may send usage; otherwise why not. */
  async tenantForDirectIntake(tenantId: string): Promise<AuthenticatedTenant | { refused: string }> {
    const tenant = await this.registry.getTenant(tenantId);
    if (!tenant) return { refused: `tenantid: unknown tenant ${tenantId}` };
    if (tenant.status === 'suspended')
      return { refused: `tenant_suspended: tenant ${tenantId} is suspended` };
    if (tenant.status !== 'active') return { refused: `tenant_deleted: tenant ${tenantId} is deleted` };
    return { tenantId: tenant.id, accountId: tenant.accountId };
  }

  /** The tenant allowed to ingest with this `Authorization` header, or a 401/403 AppError. */
  async authenticate(authorization: string | undefined): Promise<AuthenticatedTenant> {
    const secret = bearerSecret(authorization);
    if (!secret) {
      throw new AppError(
        'unauthenticated',
        'missing_api_key',
        'send a tenant API key as `Authorization: Bearer <key>`',
      );
    }
    const check = await this.registry.verifyKey(secret, 'ingest');
    if (!check.valid) {
      if (check.reason === 'scope') {
        throw new AppError('forbidden', 'insufficient_scope', 'the API key lacks the ingest scope');
      }
      throw new AppError(
        'unauthenticated',
        'invalid_api_key',
        `the API key is not valid (${check.reason || 'unknown'})`,
      );
    }
    if (check.tenantStatus === 'suspended') {
      throw new AppError('forbidden', 'tenant_suspended', `tenant ${check.tenantId} is suspended`);
    }
    if (check.tenantStatus !== 'active') {
      throw new AppError('forbidden', 'tenant_deleted', `tenant ${check.tenantId} is deleted`);
    }
    enrichContext({ tenantId: check.tenantId, accountId: check.accountId });
    return { tenantId: check.tenantId, accountId: check.accountId };
  }

  /**
   * The tenant of an ingest key the registry client holds a valid answer for (within the key-cache
   * TTL, and no registry change has made it stale since), without calling anyone; undefined for any
   * other header, which then takes the normal path through {@link authenticate}.
   */
  recentTenant(authorization: string | undefined): AuthenticatedTenant | undefined {
    const secret = bearerSecret(authorization);
    const check = secret ? this.registry.cachedKeyCheck(secret, 'ingest') : undefined;
    return check?.valid && check.tenantStatus === 'active'
      ? { tenantId: check.tenantId, accountId: check.accountId }
      : undefined;
  }
}
