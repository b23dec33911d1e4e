import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const SIGNING_SECRET_PREFIX = 'whsec_';

/** A new endpoint signing secret: `whsec_` and 32 random bytes (base64url). */
export const newSigningSecret = (): string =>
  `${SIGNING_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;

/** Enough of a secret to tell secrets apart in a listing, nothing to sign with. */
export const secretHint = (secret: string): string => `${secret.slice(0, SIGNING_SECRET_PREFIX.length + 4)}…`;

const VERSION = 'v1';

/**
 * Keeps signing secrets encrypted at rest (AES-256-GCM under a configured key): a copy of the
 * database alone does not let anyone sign deliveries. Each secret is bound to its endpoint id,
 * so a ciphertext moved to another endpoint does not open.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(keyBase64url: string) {
    this.key = Buffer.from(keyBase64url, 'base64url');
    if (this.key.length !== 32) throw new Error('the secret encryption key must be 32 bytes (base64url)');
  }

  seal(secret: string, endpointId: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv).setAAD(Buffer.from(endpointId));
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), ciphertext]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  /** The secret; throws when the sealed text was made under another key or for another endpoint. */
  open(sealed: string, endpointId: string): string {
    const [version, iv, tag, ciphertext] = sealed.split('.');
    if (version !== VERSION || ciphertext === undefined) throw new Error('not a sealed signing secret');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'))
      .setAAD(Buffer.from(endpointId))
      .setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  }
}
