import { TenantRateLimiter } from './tenant-rate-limiter';

describe(TenantRateLimiter.name, () => {
  let clock = 0;
  const limiter = () => new TenantRateLimiter(100, 200, () => clock);

  beforeEach(() => (clock = 0));

  it('grants a burst up to the bucket size, then refuses', () => {
    const l = limiter();
    expect(l.take('a', 150)).toBe(0);
    expect(l.take('a', 50)).toBe(0);
    expect(l.take('a', 1)).toBe(1);
  });

  it('refills at the configured rate', () => {
    const l = limiter();
    l.take('a', 200);
    clock = 500;
    expect(l.take('a', 50)).toBe(0);
    expect(l.take('a', 1)).toBeGreaterThan(0);
  });

  it('tells how many seconds until the request fits', () => {
    const l = limiter();
    l.take('a', 200);
    expect(l.take('a', 150)).toBe(2);
  });

  it('keeps tenants apart', () => {
    const l = limiter();
    l.take('a', 200);
    expect(l.take('a', 10)).toBeGreaterThan(0);
    expect(l.take('b', 200)).toBe(0);
  });

  describe('admitting a request before it is read', () => {
    it('admits a tenant never seen, or one with tokens left that was not refused', () => {
      const l = limiter();
      expect(l.admitUnread('a')).toBe(0);
      l.take('a', 150);
      expect([l.admitUnread('a'), l.admitUnread('a')]).toEqual([0, 0]);
    });

    it('keeps a tenant out while its bucket is empty, and takes nothing', () => {
      const l = limiter();
      l.take('a', 200);
      expect(l.admitUnread('a')).toBe(10);
      clock = 10;
      expect(l.admitUnread('a')).toBe(0);
      expect(l.take('a', 1)).toBe(0);
    });

    it('keeps a tenant out until the request last refused would fit', () => {
      const l = limiter();
      l.take('a', 200);
      expect(l.take('a', 150)).toBe(2);
      expect(l.admitUnread('a')).toBe(1_500);
      clock = 1_499;
      expect(l.admitUnread('a')).toBe(1);
      clock = 1_500;
      expect(l.admitUnread('a')).toBe(0);
      expect(l.take('a', 150)).toBe(0);
    });

    it('admits a recently refused tenant one request at a time, each until it is counted', () => {
      const l = limiter();
      l.take('a', 200);
      clock = 500;
      expect(l.take('a', 100)).toBe(1);
      clock = 1_000;
      expect(l.admitUnread('a')).toBe(0);
      expect(l.admitUnread('a')).toBe(1_000);
      expect(l.take('a', 50)).toBe(0);
      expect(l.admitUnread('a')).toBe(0);
      // One never counted (its body was bad, or never came) holds the others a second at most.
      clock = 1_500;
      expect(l.admitUnread('a')).toBe(500);
      clock = 2_000;
      expect(l.admitUnread('a')).toBe(0);
      expect(l.admitUnread('a')).toBe(1_000);
      // Once its bucket had the time to fill since the refusal, requests are admitted side by side.
      clock = 2_500;
      l.take('a', 1);
      expect([l.admitUnread('a'), l.admitUnread('a')]).toEqual([0, 0]);
    });

    it('keeps out a request that can never fit for the advised wait only', () => {
      const l = limiter();
      expect(l.take('a', 500)).toBe(1);
      expect(l.admitUnread('a')).toBe(1_000);
      clock = 1_000;
      expect(l.admitUnread('a')).toBe(0);
      expect(l.take('a', 20)).toBe(0);
    });

    it('keeps tenants apart', () => {
      const l = limiter();
      l.take('a', 200);
      l.take('a', 100);
      expect(l.admitUnread('a')).toBeGreaterThan(0);
      l.take('b', 10);
      expect([l.admitUnread('b'), l.admitUnread('b')]).toEqual([0, 0]);
    });
  });
});
