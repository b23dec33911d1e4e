import { KeyCache } from './key-cache';

describe(KeyCache.name, () => {
  let now = 0;
  const cache = () => new KeyCache<{ tenantId: string; keyId: string }>(1_000, 10, () => now);

  beforeEach(() => {
    now = 0;
  });

  it('answers within the TTL and forgets after it', () => {
    const c = cache();
    c.set('a', { tenantId: 't1', keyId: 'k1' });
    now = 999;
    expect(c.get('a')).toEqual({ tenantId: 't1', keyId: 'k1' });
    now = 1_000;
    expect(c.get('a')).toBeUndefined();
  });

  it('drops entries of a tenant or a key on demand', () => {
    const c = cache();
    c.set('a', { tenantId: 't1', keyId: 'k1' });
    c.set('b', { tenantId: 't1', keyId: 'k2' });
    c.set('c', { tenantId: 't2', keyId: 'k3' });
    c.forgetTenant('t1');
    expect([c.get('a'), c.get('b')]).toEqual([undefined, undefined]);
    c.forgetKey('k3');
    expect(c.get('c')).toBeUndefined();
  });

  it('stays within its size bound', () => {
    const c = cache();
    for (let i = 0; i < 25; i++) c.set(`k${i}`, { tenantId: 't', keyId: `k${i}` });
    expect(c.size).toBeLessThanOrEqual(10);
    expect(c.get('k24')).toBeDefined();
  });
});
