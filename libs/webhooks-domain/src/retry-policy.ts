/** How failed deliveries are retried: exponential backoff with jitter, for a bounded time. */
export interface RetryPolicy {
  /** Delay after the first failed attempt, before jitter. */
  baseDelayMs: number;
  /** Longest delay between two attempts, before jitter. */
  maxDelayMs: number;
  /** How long after a delivery is created it may still be attempted (default three days). */
  horizonMs: number;
}

/** When an endpoint that keeps failing is disabled: both must hold. */
export interface DisablePolicy {
  /** Failed attempts in a row, over all its deliveries. */
  minConsecutiveFailures: number;
  /** How long it has failed without a single success. */
  failingForMs: number;
}

/** A 2xx answer is a success; anything else (3xx included: redirects are not followed) a failure. */
export const isSuccessStatus = (status: number): boolean => status >= 200 && status <= 299;

/**
 * The wait before the next attempt after `failedAttempts` failures: `base · 2^(n-1)` capped at
 * `maxDelayMs`, with equal jitter (uniformly between half of it and all of it) so that deliveries
 * failing together do not retry together. `random` is in [0, 1).
 */
export function retryDelayMs(policy: RetryPolicy, failedAttempts: number, random: number): number {
  const exponent = Math.min(Math.max(failedAttempts, 1) - 1, 40);
  const capped = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  return Math.round(capped / 2 + (random * capped) / 2);
}

export type DeliveryStep =
  { status: 'succeeded' } | { status: 'pending'; nextAttemptAtMs: number } | { status: 'failed' };

/**
 * Where a delivery goes after an attempt: done on success; otherwise retried after the backoff,
 * unless that retry would fall after the delivery's horizon, which ends it as failed.
 */
export function afterAttempt(
  policy: RetryPolicy,
  attempt: { succeeded: boolean; number: number; nowMs: number; expiresAtMs: number },
  random: number,
): DeliveryStep {
  if (attempt.succeeded) return { status: 'succeeded' };
  const nextAttemptAtMs = attempt.nowMs + retryDelayMs(policy, attempt.number, random);
  return nextAttemptAtMs > attempt.expiresAtMs
    ? { status: 'failed' }
    : { status: 'pending', nextAttemptAtMs };
}

/** Whether an endpoint's failing streak is persistent enough to disable it. */
export function shouldDisable(
  policy: DisablePolicy,
  health: { consecutiveFailures: number; failingSinceMs: number | null },
  nowMs: number,
): boolean {
  return (
    health.failingSinceMs !== null &&
    health.consecutiveFailures >= policy.minConsecutiveFailures &&
    nowMs - health.failingSinceMs >= policy.failingForMs
  );
}
