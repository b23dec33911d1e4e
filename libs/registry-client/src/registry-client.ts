import * as grpc from '@grpc/grpc-js';
import { AppError, PROTO_FILES, ROLES, type Role } from '@metering/contracts';
import { GrpcClient } from '@metering/service-kit';
import { KeyCache, keyCheckCacheKey, type RegistryChange } from './key-cache';

export interface KeyCheck {
  valid: boolean;
  tenantId: string;
  accountId: string;
  scopes: string[];
  tenantStatus: string;
  keyId: string;
  reason: string;
}

/** A tenant as other services need it: who owns it and whether it may send usage. */
export interface TenantInfo {
  id: string;
  accountId: string;
  status: string;
  /** Capability limits (limit key → integer). */
  limits: Record<string, number>;
}

/** Who holds a management key: a platform admin (no account) or a role in one account. */
export interface ManagementPrincipal {
  keyId: string;
  role: Role;
  accountId: string | null;
}

export interface RegistryClientOptions {
  /** host:port of the registry's gRPC server. */
  url: string;
  /** How long answers are reused; bounded by the registry's own cache TTL. */
  cacheTtlMs: number;
  /**
   * How long tenant lookups are reused (default `cacheTtlMs`). A service that follows
   * `registry.events.v1` (which drops changed tenants at once) can keep them longer.
   */
  tenantCacheTtlMs?: number;
  timeoutMs?: number;
}

const unavailable = (err: grpc.ServiceError) =>
  new AppError('unavailable', 'registry_unavailable', 'the registry cannot be reached right now; retry', {
    cause: err.details,
  });

/**
 * The registry's gRPC API for other services, with a local cache of key checks. Entries can be
 * dropped early (from `registry.events.v1`); otherwise they live `cacheTtlMs`.
 */
export class RegistryClient {
  private readonly grpc: GrpcClient;
  private readonly cache: KeyCache<KeyCheck>;
  private readonly tenants: KeyCache<{ tenantId: string; tenant: TenantInfo | null }>;
  private readonly principals: KeyCache<{ keyId?: string; principal: ManagementPrincipal | null }>;

  constructor(private readonly options: RegistryClientOptions) {
    this.grpc = new GrpcClient(PROTO_FILES.registry, 'metering.registry.v1.TenantRegistry', options.url);
    this.cache = new KeyCache(options.cacheTtlMs);
    this.tenants = new KeyCache(options.tenantCacheTtlMs ?? options.cacheTtlMs);
    this.principals = new KeyCache(options.cacheTtlMs);
  }

  async verifyKey(secret: string, requiredScope: string): Promise<KeyCheck> {
    const cacheKey = keyCheckCacheKey(secret, requiredScope);
    const cached = this.cache.get(cacheKey);
    if (cached) return cached;
    const answer = await this.grpc
      .unary<KeyCheck>('VerifyKey', { key: secret, requiredScope }, this.options.timeoutMs ?? 2_000)
      .catch((err: grpc.ServiceError) => {
        throw unavailable(err);
      });
    this.cache.set(cacheKey, answer);
    return answer;
  }

  /** The cached answer of `verifyKey`, without calling the registry; undefined when none is cached. */
  cachedKeyCheck(secret: string, requiredScope: string): KeyCheck | undefined {
    return this.cache.get(keyCheckCacheKey(secret, requiredScope));
  }

  /** The holder of a management key, or null when the key is not valid; cached like key checks. */
  async verifyManagementKey(secret: string): Promise<ManagementPrincipal | null> {
    const cacheKey = keyCheckCacheKey(secret, 'management');
    const cached = this.principals.get(cacheKey);
    if (cached) return cached.principal;
    const answer = await this.grpc
      .unary<{ valid: boolean; keyId: string; role: string; accountId: string }>(
        'VerifyManagementKey',
        { key: secret },
        this.options.timeoutMs ?? 2_000,
      )
      .catch((err: grpc.ServiceError) => {
        throw unavailable(err);
      });
    const role = ROLES.find((r) => r === answer.role);
    const principal =
      answer.valid && role ? { keyId: answer.keyId, role, accountId: answer.accountId || null } : null;
    this.principals.set(cacheKey, { ...(principal ? { keyId: principal.keyId } : {}), principal });
    return principal;
  }

  /** A tenant by id (null when the registry does not know it), cached like key checks. */
  async getTenant(tenantId: string): Promise<TenantInfo | null> {
    const cached = this.tenants.get(tenantId);
    if (cached) return cached.tenant;
    const tenant = await this.grpc
      .unary<TenantInfo>('GetTenant', { tenantId }, this.options.timeoutMs ?? 2_000)
      .catch((err: grpc.ServiceError) => {
        if (err.code === grpc.status.NOT_FOUND) return null;
        throw unavailable(err);
      });
    this.tenants.set(tenantId, {
      tenantId,
      tenant: tenant && {
        id: tenant.id,
        accountId: tenant.accountId,
        status: tenant.status,
        limits: { ...tenant.limits },
      },
    });
    return tenant;
  }

  /** Drops cached answers a registry change made stale (tenant state, key revocation). */
  forgetChanged(change: RegistryChange): void {
    this.cache.forgetChanged(change);
    this.tenants.forgetChanged(change);
  }

  /** Readiness: the channel to the registry connects. */
  check(): Promise<void> {
    return this.grpc.check();
  }

  close(): void {
    this.grpc.close();
  }

  /** Nest lifecycle: closes the channel when the module holding the client stops. */
  onModuleDestroy(): void {
    this.close();
  }
}
