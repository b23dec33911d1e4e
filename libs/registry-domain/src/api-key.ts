import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const API_KEY_SCOPES = ['ingest', 'read'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/**
 * Secrets are `<kind>_<id>_<secret>`: the id finds the row, the secret is stored only as a
 * SHA-256 hash (256 random bits need no slow hash), and `<kind>_<id>` is the display prefix.
 */
export interface IssuedSecret {
  id: string;
  prefix: string;
  secret: string;
  hash: string;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function issueSecret(kind: 'ak' | 'mk'): IssuedSecret {
  const id = randomBytes(9).toString('base64url');
  const secret = `${kind}_${id}_${randomBytes(32).toString('base64url')}`;
  return { id, prefix: `${kind}_${id}`, secret, hash: hashSecret(secret) };
}

/** The id inside a presented secret, or undefined when it is not one of ours. */
export function secretId(presented: string, kind: 'ak' | 'mk'): string | undefined {
  const match = new RegExp(`^${kind}_([A-Za-z0-9_-]{12})_[A-Za-z0-9_-]{43}$`).exec(presented);
  return match?.[1];
}

export function secretMatches(presented: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(presented), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
