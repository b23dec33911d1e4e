/**
 * Per-tenant token buckets counted in events: each tenant refills `ratePerSecond` up to `burst`.
 * A request takes all its events' tokens or none; refused, it learns how long until it would fit.
 * Buckets are per process, so with N instances a tenant's limit is N times this.
 */
export class TenantRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes `events` tokens; returns 0 when granted, otherwise the seconds to wait before retrying. */
  take(tenantId: string, events: number): number {
    const now = this.now();
    const bucket = this.buckets.get(tenantId) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerSecond);
    bucket.at = now;
    this.buckets.set(tenantId, bucket);
    if (events <= bucket.tokens) {
      bucket.tokens -= events;
      return 0;
    }
    // A request larger than the burst can never fit: waiting for a full bucket is the best answer.
    const missing = Math.min(events, this.burst) - bucket.tokens;
    return Math.max(1, Math.ceil(missing / this.ratePerSecond));
  }
}
