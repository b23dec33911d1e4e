import { randomBytes } from 'node:crypto';
import { ChainSigner, verifyStatement, type ChainStatement } from './signing';

describe(ChainSigner.name, () => {
  const signer = new ChainSigner(randomBytes(32).toString('base64url'));
  const statement: ChainStatement = {
    kind: 'head',
    accountId: 'acc_1',
    seq: 42,
    hash: 'a'.repeat(64),
    at: '2026-01-01T00:00:00.000Z',
  };

  it('signs a head that verifies with its public key', () => {
    const signed = signer.sign(statement);
    expect(signed).toMatchObject({ algorithm: 'Ed25519', keyId: signer.keyId });
    expect(verifyStatement(signed, signer.publicKey)).toBe(true);
  });

  it.each([
    ['seq', { seq: 43 }],
    ['hash', { hash: 'b'.repeat(64) }],
    ['account', { accountId: 'acc_2' }],
    ['kind', { kind: 'checkpoint' as const }],
  ])('refuses a head whose %s was changed', (_, patch) => {
    expect(verifyStatement({ ...signer.sign(statement), ...patch }, signer.publicKey)).toBe(false);
  });

  it('refuses a signature by another key', () => {
    const other = new ChainSigner(randomBytes(32).toString('base64url'));
    expect(verifyStatement(other.sign(statement), signer.publicKey)).toBe(false);
  });

  it('refuses a seed that is not 32 bytes', () => {
    expect(() => new ChainSigner('c2hvcnQ')).toThrow(/32 bytes/);
  });
});
