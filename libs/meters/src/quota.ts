import type { Quantity } from './quantity';

/** Percentages of an allowance at which `quota.threshold_crossed` is announced, once per period. */
export const QUOTA_THRESHOLDS = [80, 100] as const;

/** Usage as a percentage of an allowance, with two decimals, rounded down (`79.99` is not yet 80). */
export function percentOf(used: Quantity, allowance: Quantity): string {
  if (allowance <= 0n) return used > 0n ? '100.00' : '0.00';
  const hundredths = (used * 10_000n) / allowance;
  const sign = hundredths < 0n ? '-' : '';
  const abs = hundredths < 0n ? -hundredths : hundredths;
  return `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/** The thresholds `used` has reached: exactly at 80 % crosses 80. An allowance of 0 is reached by any use. */
export function reachedThresholds(used: Quantity, allowance: Quantity): number[] {
  if (allowance <= 0n) return used > 0n ? [...QUOTA_THRESHOLDS] : [];
  return QUOTA_THRESHOLDS.filter((t) => used * 100n >= allowance * BigInt(t));
}

/** One crossing: a meter's pooled allowance or a tenant's capability limit, at a threshold. */
export interface QuotaCrossing {
  /** Pooled meter of the account, or a tenant's capability limit. */
  scope: 'pool' | 'tenant-limit';
  /** Meter key or limit key. */
  key: string;
  tenantId?: string;
  threshold: number;
  used: string;
  allowance: string;
  percent: string;
}

export const crossingId = (c: Pick<QuotaCrossing, 'scope' | 'key' | 'tenantId' | 'threshold'>): string =>
  [c.scope, c.tenantId ?? '', c.key, c.threshold].join(':');

/**
 * The quota crossings of one account and period as a decider: `decide` announces the crossings
 * not announced yet, so each threshold is announced once per period however often, and by
 * however many instances, usage is evaluated.
 */
export interface QuotaPeriodState {
  announced: ReadonlySet<string>;
}

export interface QuotaCrossedEvent {
  type: 'quota.threshold_crossed';
  tenantId?: string;
  data: QuotaCrossing & { periodStart: string; periodEnd: string };
}

export const quotaPeriodDecider = {
  initialState: { announced: new Set<string>() } as QuotaPeriodState,
  decide(
    command: { crossings: QuotaCrossing[]; periodStart: string; periodEnd: string },
    state: QuotaPeriodState,
  ): QuotaCrossedEvent[] {
    const fresh = new Map<string, QuotaCrossing>();
    for (const c of command.crossings) {
      const id = crossingId(c);
      if (!state.announced.has(id) && !fresh.has(id)) fresh.set(id, c);
    }
    return [...fresh.values()].map((c) => ({
      type: 'quota.threshold_crossed',
      ...(c.tenantId ? { tenantId: c.tenantId } : {}),
      data: { ...c, periodStart: command.periodStart, periodEnd: command.periodEnd },
    }));
  },
  evolve(state: QuotaPeriodState, event: { type: string; data: object }): QuotaPeriodState {
    if (event.type !== 'quota.threshold_crossed') return state;
    return { announced: new Set([...state.announced, crossingId(event.data as QuotaCrossing)]) };
  },
};
