import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { ChainHead } from './audit-entry';
import { canonicalJson } from './canonical-json';

// DER prefixes that wrap a raw 32-byte Ed25519 seed (PKCS#8) and public key (SPKI).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * What a signature vouches for: an account's chain reached `seq` with `hash` (`head`), or its
 * entries up to `seq` were pruned by retention (`checkpoint`). The kind is signed too, so one
 * cannot be passed off as the other.
 */
export interface ChainStatement extends ChainHead {
  kind: 'head' | 'checkpoint';
  accountId: string;
  /** When it was signed, ISO 8601 UTC. */
  at: string;
}

export interface SignedStatement extends ChainStatement {
  algorithm: 'Ed25519';
  /** First 16 hex digits of sha256 of the raw public key. */
  keyId: string;
  /** Ed25519 signature of the statement's canonical JSON, base64url. */
  signature: string;
}

/** The bytes that are signed: canonical JSON of the statement's own fields only. */
export function statementBytes(s: ChainStatement): Buffer {
  return Buffer.from(
    canonicalJson({ v: 1, kind: s.kind, accountId: s.accountId, seq: s.seq, hash: s.hash, at: s.at }),
  );
}

const keyIdOf = (rawPublicKey: Buffer) =>
  createHash('sha256').update(rawPublicKey).digest('hex').slice(0, 16);

/** Signs chain statements with an Ed25519 key given as its 32-byte seed; the key never reaches the database. */
export class ChainSigner {
  private readonly privateKey: KeyObject;
  /** The raw public key, base64url: what a verifier needs. */
  readonly publicKey: string;
  readonly keyId: string;

  constructor(seedBase64url: string) {
    const seed = Buffer.from(seedBase64url, 'base64url');
    if (seed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes (43 base64url characters)');
    this.privateKey = createPrivateKey({
      key: Buffer.concat([PKCS8_PREFIX, seed]),
      format: 'der',
      type: 'pkcs8',
    });
    const raw = createPublicKey(this.privateKey).export({ format: 'der', type: 'spki' }).subarray(-32);
    this.publicKey = raw.toString('base64url');
    this.keyId = keyIdOf(raw);
  }

  sign(statement: ChainStatement): SignedStatement {
    const signature = sign(null, statementBytes(statement), this.privateKey).toString('base64url');
    return { ...statement, algorithm: 'Ed25519', keyId: this.keyId, signature };
  }
}

/** Whether `signed` was signed by the holder of `publicKey` (raw, base64url) and is unchanged. */
export function verifyStatement(signed: SignedStatement, publicKey: string): boolean {
  const raw = Buffer.from(publicKey, 'base64url');
  if (raw.length !== 32 || signed.algorithm !== 'Ed25519') return false;
  const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
  return verify(null, statementBytes(signed), key, Buffer.from(signed.signature, 'base64url'));
}
