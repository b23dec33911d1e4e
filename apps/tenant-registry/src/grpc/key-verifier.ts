import { Injectable } from '@nestjs/common';
import { KeyCache, keyCheckCacheKey } from '@metering/registry-client';
import type { KeyVerification } from '@metering/registry-data-access';
import type { ApiKeyScope } from '@metering/registry-domain';
import { TenantRegistryConfig } from '../config';
import { RegistryService } from '../registry/registry.service';

/**
 * Key verification with a short-lived cache in front of Postgres, for the ingestion hot path.
 * A committed change to a key or its tenant's state in this process drops the entries at once;
 * other instances see the change within KEY_CACHE_TTL_MS.
 */
@Injectable()
export class KeyVerifier {
  private readonly cache: KeyCache<KeyVerification>;

  constructor(
    private readonly registry: RegistryService,
    config: TenantRegistryConfig,
  ) {
    this.cache = new KeyCache(config.KEY_CACHE_TTL_MS);
    // Whatever changes what a key check answers drops the cached checks, whichever path wrote it.
    registry.store.onCommitted((events) => {
      for (const e of events) this.cache.forgetChanged({ ...e, aggregateId: e.streamId });
    });
  }

  async verify(secret: string, scope: ApiKeyScope | undefined): Promise<KeyVerification> {
    const cacheKey = keyCheckCacheKey(secret, scope);
    const hit = this.cache.get(cacheKey);
    if (hit) return hit;
    const result = await this.registry.store.verifyApiKey(secret, scope);
    this.cache.set(cacheKey, result);
    return result;
  }
}
