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
});
