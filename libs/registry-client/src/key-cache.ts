import { createHash } from 'node:crypto';

/** Cache key of a presented secret for a scope: a digest, so the cache holds no secrets. */
export function keyCheckCacheKey(secret: string, scope: string | undefined): string {
  return `${scope ?? ''}:${createHash('sha256').update(secret).digest('base64')}`;
}

/** A registry event as far as cached key checks care: its type, tenant and aggregate (key) id. */
export interface RegistryChange {
  type: string;
  tenantId?: string | null;
  aggregateId: string;
}

// Changes that make what is cached about a tenant (status, limits, its key checks) stale.
const TENANT_STATE_EVENTS = new Set([
  'tenant.limits_changed',
  'tenant.suspended',
  'tenant.resumed',
  'tenant.deleted',
  'tenant.purged',
]);
const KEY_EVENTS = new Set(['api_key.revoked', 'api_key.expiry_set']);

/** A TTL cache of key checks, keyed by a digest of the secret, droppable by tenant or key id. */
export class KeyCache<V extends { tenantId?: string; keyId?: string }> {
  private readonly entries = new Map<string, { at: number; value: V }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.now() - entry.at >= this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) {
      // Drop the oldest tenth rather than everything at once.
      let drop = Math.ceil(this.maxEntries / 10);
      for (const k of this.entries.keys()) {
        this.entries.delete(k);
        if (--drop === 0) break;
      }
    }
    this.entries.set(key, { at: this.now(), value });
  }

  forgetTenant(tenantId: string): void {
    for (const [k, v] of this.entries) if (v.value.tenantId === tenantId) this.entries.delete(k);
  }

  forgetKey(keyId: string): void {
    for (const [k, v] of this.entries) if (v.value.keyId === keyId) this.entries.delete(k);
  }

  /** Drops what a registry change makes stale: a tenant's entries when its state changed, a key's when it was revoked or its expiry set. */
  forgetChanged(change: RegistryChange): void {
    if (TENANT_STATE_EVENTS.has(change.type) && change.tenantId) this.forgetTenant(change.tenantId);
    if (KEY_EVENTS.has(change.type)) this.forgetKey(change.aggregateId);
  }

  get size(): number {
    return this.entries.size;
  }
}
