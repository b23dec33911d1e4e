import { AppError } from '@metering/contracts';

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date. */
  at: number;
  /** When a request of the tenant was last refused. */
  refusedAt: number;
  /** Until when the tenant's requests are not admitted unread: the last one refused would not fit yet. */
  refusedUntil: number;
  /** Until when a request admitted unread is expected to be counted before another is admitted. */
  unreadUntil: number;
}

/** How long a request admitted unread keeps the next one of a recently refused tenant waiting, at most. */
const UNREAD_MS = 1_000;

/**
 * Per-tenant token buckets counted in events: each tenant refills `ratePerSecond` up to `burst`.
 * A request takes all its events' tokens or none; refused, it learns how long until it would fit.
 * Buckets are per process, so with N instances a tenant's limit is N times this.
 */
export class TenantRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes `events` tokens; returns 0 when granted, otherwise the seconds to wait before retrying. */
  take(tenantId: string, events: number): number {
    const bucket = this.refilled(tenantId);
    // The request admitted unread (see `admitUnread`) is being counted now.
    bucket.unreadUntil = 0;
    if (events <= bucket.tokens) {
      bucket.tokens -= events;
      return 0;
    }
    // A request larger than the burst can never fit: waiting for a full bucket is the best answer.
    const missing = Math.min(events, this.burst) - bucket.tokens;
    const retryAfterSeconds = Math.max(1, Math.ceil(missing / this.ratePerSecond));
    // Until this request would fit, the tenant's next ones are not admitted unread. One that can
    // never fit (larger than the burst, bucket full) keeps them out for the advised wait.
    const fitsInMs = missing > 0 ? (missing / this.ratePerSecond) * 1000 : retryAfterSeconds * 1000;
    bucket.refusedAt = bucket.at;
    bucket.refusedUntil = Math.max(bucket.refusedUntil, bucket.at + fitsInMs);
    return retryAfterSeconds;
  }

  /**
   * Whether a request whose events are not known yet (its body is unread) is worth reading: 0 when
   * it is admitted, otherwise the milliseconds to wait. It waits while the tenant's bucket is empty
   * or the last request it was refused would not fit yet; and a tenant refused within the time its
   * bucket takes to fill has its requests admitted one at a time, each until it is counted (for at
   * most a second), since the others would mostly be read only to be refused. Takes no tokens: an
   * admitted request is counted by `take`. A tenant never seen is always admitted.
   */
  admitUnread(tenantId: string): number {
    if (!this.buckets.has(tenantId)) return 0;
    const bucket = this.refilled(tenantId);
    const emptyMs = bucket.tokens < 1 ? ((1 - bucket.tokens) / this.ratePerSecond) * 1000 : 0;
    const waitMs = Math.max(bucket.refusedUntil - bucket.at, bucket.unreadUntil - bucket.at, emptyMs, 0);
    if (waitMs > 0) return waitMs;
    if (bucket.at - bucket.refusedAt < (this.burst / this.ratePerSecond) * 1000) {
      bucket.unreadUntil = bucket.at + UNREAD_MS;
    }
    return 0;
  }

  private refilled(tenantId: string): Bucket {
    const now = this.now();
    const bucket = this.buckets.get(tenantId) ?? {
      tokens: this.burst,
      at: now,
      refusedAt: -Infinity,
      refusedUntil: 0,
      unreadUntil: 0,
    };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerSecond);
    bucket.at = now;
    this.buckets.set(tenantId, bucket);
    return bucket;
  }
}

/** The 429 for a tenant over its event rate, the same wherever it is refused. */
export function overRateError(
  limiter: TenantRateLimiter,
  tenantId: string,
  retryAfterSeconds: number,
): AppError {
  return new AppError('rate_limited', 'rate_limited', `tenant ${tenantId} is over its event rate`, {
    retryAfterSeconds,
    eventsPerSecond: limiter.ratePerSecond,
    burst: limiter.burst,
  });
}
