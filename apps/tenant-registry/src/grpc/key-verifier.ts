import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { KeyVerification } from '@metering/registry-data-access';
import type { ApiKeyScope } from '@metering/registry-domain';
import { TenantRegistryConfig } from '../config';
import { RegistryService } from '../registry/registry.service';

const MAX_ENTRIES = 100_000;

/**
 * Key verification with a short-lived cache in front of Postgres, for the ingestion hot path.
 * Revoking or rotating through this process drops the entry at once; other instances see the
 * change within KEY_CACHE_TTL_MS.
 */
@Injectable()
export class KeyVerifier {
  private readonly cache = new Map<string, { at: number; result: KeyVerification }>();

  constructor(
    private readonly registry: RegistryService,
    private readonly config: TenantRegistryConfig,
  ) {}

  async verify(secret: string, scope: ApiKeyScope | undefined): Promise<KeyVerification> {
    const cacheKey = `${scope ?? ''}:${createHash('sha256').update(secret).digest('base64')}`;
    const hit = this.cache.get(cacheKey);
    if (hit && Date.now() - hit.at < this.config.KEY_CACHE_TTL_MS) return hit.result;
    const result = await this.registry.store.verifyApiKey(secret, scope);
    if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
    this.cache.set(cacheKey, { at: Date.now(), result });
    return result;
  }

  /** Drops cached answers for a key id (after revoke or rotate). */
  forget(keyId: string): void {
    for (const [k, v] of this.cache) if (v.result.keyId === keyId) this.cache.delete(k);
  }
}
