import { randomBytes } from 'node:crypto';
import { SecretBox, newSigningSecret, secretHint } from './signing-secret';

const key = () => randomBytes(32).toString('base64url');

describe(SecretBox.name, () => {
  it('opens what it sealed', () => {
    const box = new SecretBox(key());
    const secret = newSigningSecret();
    const sealed = box.seal(secret, 'we_1');
    expect(sealed).not.toContain(secret.slice(6));
    expect(box.open(sealed, 'we_1')).toBe(secret);
  });

  it('seals the same secret differently each time', () => {
    const box = new SecretBox(key());
    expect(box.seal('whsec_x', 'we_1')).not.toBe(box.seal('whsec_x', 'we_1'));
  });

  it('does not open under another key, for another endpoint, or after tampering', () => {
    const box = new SecretBox(key());
    const sealed = box.seal(newSigningSecret(), 'we_1');
    expect(() => new SecretBox(key()).open(sealed, 'we_1')).toThrow();
    expect(() => box.open(sealed, 'we_2')).toThrow();
    const parts = sealed.split('.');
    parts[3] = Buffer.from('tampered').toString('base64url');
    expect(() => box.open(parts.join('.'), 'we_1')).toThrow();
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => new SecretBox(randomBytes(16).toString('base64url'))).toThrow(/32 bytes/);
  });
});

describe(newSigningSecret.name, () => {
  it('makes distinct prefixed secrets with a short hint', () => {
    const a = newSigningSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(newSigningSecret()).not.toBe(a);
    expect(secretHint(a)).toBe(`${a.slice(0, 10)}…`);
  });
});
