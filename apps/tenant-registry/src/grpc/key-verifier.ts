import { Injectable } from '@nestjs/common';
import { KeyCache, keyCheckCacheKey } from '@metering/registry-client';
import type { KeyVerification } from '@metering/registry-data-access';
import type { ApiKeyScope } from '@metering/registry-domain';
import { TenantRegistryConfig } from '../config';
import { RegistryService } from '../registry/registry.service';

/**
 * Key verification with a short-lived cache in front of Postgres, for the ingestion hot path.
 * Revoking or rotating a key, or changing its tenant's state, through this process drops the
 * entries at once; other instances see the change within KEY_CACHE_TTL_MS.
 */
@Injectable()
export class KeyVerifier {
  private readonly cache: KeyCache<KeyVerification>;

  constructor(
    private readonly registry: RegistryService,
    config: TenantRegistryConfig,
  ) {
    this.cache = new KeyCache(config.KEY_CACHE_TTL_MS);
  }

  async verify(secret: string, scope: ApiKeyScope | undefined): Promise<KeyVerification> {
    const cacheKey = keyCheckCacheKey(secret, scope);
    const hit = this.cache.get(cacheKey);
    if (hit) return hit;
    const result = await this.registry.store.verifyApiKey(secret, scope);
    this.cache.set(cacheKey, result);
    return result;
  }

  /** Drops cached answers for a key id (after revoke or rotate). */
  forget(keyId: string): void {
    this.cache.forgetKey(keyId);
  }

  /** Drops cached answers for a tenant's keys (after suspend, resume, delete or purge). */
  forgetTenant(tenantId: string): void {
    this.cache.forgetTenant(tenantId);
  }
}
