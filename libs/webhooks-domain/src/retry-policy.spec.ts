import fc from 'fast-check';
import { afterAttempt, isSuccessStatus, retryDelayMs, shouldDisable, type RetryPolicy } from './retry-policy';

const DAY = 86_400_000;
/** Math.random()'s range. */
const draw = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const POLICY: RetryPolicy = { baseDelayMs: 30_000, maxDelayMs: 4 * 3_600_000, horizonMs: 3 * DAY };

describe(retryDelayMs.name, () => {
  it('doubles per failure from the base, between half and all of it', () => {
    expect(retryDelayMs(POLICY, 1, 0)).toBe(15_000);
    expect(retryDelayMs(POLICY, 1, 0.999_999)).toBe(30_000);
    expect(retryDelayMs(POLICY, 2, 0)).toBe(30_000);
    expect(retryDelayMs(POLICY, 4, 0.5)).toBe(180_000);
  });

  it('never exceeds the cap, however many failures', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), draw, (n, r) => {
        const delay = retryDelayMs(POLICY, n, r);
        return delay >= 0 && delay <= POLICY.maxDelayMs;
      }),
    );
  });

  it('grows with the number of failures until the cap (for the same draw)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), draw, (n, r) => {
        return retryDelayMs(POLICY, n + 1, r) >= retryDelayMs(POLICY, n, r);
      }),
    );
  });
});

describe(afterAttempt.name, () => {
  const created = 1_760_000_000_000;
  const expiresAtMs = created + POLICY.horizonMs;

  it('ends a delivery on success', () => {
    expect(afterAttempt(POLICY, { succeeded: true, number: 5, nowMs: created, expiresAtMs }, 0.3)).toEqual({
      status: 'succeeded',
    });
  });

  it('schedules a failed attempt after its backoff', () => {
    expect(afterAttempt(POLICY, { succeeded: false, number: 1, nowMs: created, expiresAtMs }, 0)).toEqual({
      status: 'pending',
      nextAttemptAtMs: created + 15_000,
    });
  });

  it('fails a delivery whose next attempt would fall past its horizon', () => {
    const late = expiresAtMs - 1_000;
    expect(afterAttempt(POLICY, { succeeded: false, number: 20, nowMs: late, expiresAtMs }, 0)).toEqual({
      status: 'failed',
    });
  });

  it('attempts a delivery that never succeeds for about its horizon, then gives up', () => {
    let now = created;
    let attempts = 0;
    for (;;) {
      attempts++;
      const step = afterAttempt(POLICY, { succeeded: false, number: attempts, nowMs: now, expiresAtMs }, 0.5);
      if (step.status !== 'pending') break;
      now = step.nextAttemptAtMs;
    }
    expect(now).toBeLessThanOrEqual(expiresAtMs);
    expect(expiresAtMs - now).toBeLessThan(POLICY.maxDelayMs);
    expect(attempts).toBeGreaterThan(15);
    expect(attempts).toBeLessThan(40);
  });
});

describe(shouldDisable.name, () => {
  const policy = { minConsecutiveFailures: 10, failingForMs: 3 * DAY };
  const now = 1_760_000_000_000;

  it('disables after enough failures over long enough', () => {
    expect(shouldDisable(policy, { consecutiveFailures: 10, failingSinceMs: now - 3 * DAY }, now)).toBe(true);
  });

  it('keeps an endpoint that failed often but briefly (an outage), or long but rarely', () => {
    expect(shouldDisable(policy, { consecutiveFailures: 500, failingSinceMs: now - DAY }, now)).toBe(false);
    expect(shouldDisable(policy, { consecutiveFailures: 9, failingSinceMs: now - 10 * DAY }, now)).toBe(
      false,
    );
    expect(shouldDisable(policy, { consecutiveFailures: 0, failingSinceMs: null }, now)).toBe(false);
  });
});

describe(isSuccessStatus.name, () => {
  it('takes 2xx only', () => {
    expect([199, 200, 204, 299, 300, 302, 404, 500].map(isSuccessStatus)).toEqual([
      false,
      true,
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
  });
});
