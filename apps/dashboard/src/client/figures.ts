import type { Bar } from './charts';
import { compareDecimals, sumDecimals } from './decimal';
import type { Usage, UsageFigures } from './types';

/** Names and colours of an account's tenants, in the tenant list's order. */
export interface TenantDirectory {
  name(tenantId: string): string;
  colour(tenantId: string): string;
  /** Position in the tenant list (unknown tenants after every known one). */
  order(tenantId: string): number;
}

export const WINDOWS = ['minute', 'hour', 'day'] as const;
export type UsageWindow = (typeof WINDOWS)[number];

export interface UsageRange {
  from: string;
  to: string;
  window: UsageWindow;
}

export const RANGES = {
  period: 'Current billing period, per day',
  '7d': 'Last 7 days, per day',
  '24h': 'Last 24 hours, per hour',
  '60m': 'Last 60 minutes, per minute',
} as const;
export type RangeKey = keyof typeof RANGES;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const floorTo = (ms: number, step: number) => Math.floor(ms / step) * step;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The range and window size a chart asks for: whole UTC windows up to and including the current
 * one. `period` is the billing period quotas report; without one (no subscription), the last 30
 * days.
 */
export function rangeOf(key: RangeKey, nowMs: number, period?: { start: string; end: string }): UsageRange {
  switch (key) {
    case 'period':
      return period
        ? { from: period.start, to: period.end, window: 'day' }
        : { from: iso(floorTo(nowMs, DAY) - 29 * DAY), to: iso(floorTo(nowMs, DAY) + DAY), window: 'day' };
    case '7d':
      return { from: iso(floorTo(nowMs, DAY) - 6 * DAY), to: iso(floorTo(nowMs, DAY) + DAY), window: 'day' };
    case '24h':
      return {
        from: iso(floorTo(nowMs, HOUR) - 23 * HOUR),
        to: iso(floorTo(nowMs, HOUR) + HOUR),
        window: 'hour',
      };
    case '60m':
      return {
        from: iso(floorTo(nowMs, MINUTE) - 59 * MINUTE),
        to: iso(floorTo(nowMs, MINUTE) + MINUTE),
        window: 'minute',
      };
    default: {
      const never: never = key;
      throw new Error(`unknown range ${String(never)}`);
    }
  }
}

/** A window's axis label in UTC: `MM-DD` for days, `HH:MM` otherwise. */
export function windowLabel(fromIso: string, window: UsageWindow): string {
  const t = new Date(fromIso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return window === 'day'
    ? `${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`
    : `${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}`;
}

/**
 * One bar per window, stacked by each tenant's contribution: the parts add up to the window's
 * pooled value (for a peak meter, the tenants' values in the window's busiest bucket).
 */
export function usageBars(usage: Usage, window: UsageWindow, tenants: TenantDirectory): Bar[] {
  return (usage.windows ?? []).map((w) => ({
    label: windowLabel(w.from, window),
    from: w.from,
    total: w.value,
    segments: [...w.tenants]
      .sort((a, b) => tenants.order(a.tenantId) - tenants.order(b.tenantId))
      .map((t) => ({
        tenantId: t.tenantId,
        name: tenants.name(t.tenantId),
        value: t.contribution,
        colour: tenants.colour(t.tenantId),
      })),
  }));
}

export interface PeakComparison {
  /** Max over buckets of the sum across tenants: what the account really had at once. */
  pooledPeak: string;
  /** Σ of each tenant's own peak, wherever it fell: what billing per tenant would charge. */
  sumOfPeaks: string;
  peakBucketStart?: string;
  tenants: { tenantId: string; peak: string; atPooledPeak: string }[];
}

/** Why the pooled peak is below the sum of peaks, from one usage answer over the whole range. */
export function peakComparison(usage: UsageFigures): PeakComparison {
  return {
    pooledPeak: usage.value,
    sumOfPeaks: sumDecimals(usage.tenants.map((t) => t.usage)),
    ...(usage.peakBucketStart ? { peakBucketStart: usage.peakBucketStart } : {}),
    tenants: [...usage.tenants]
      .sort((a, b) => compareDecimals(b.usage, a.usage) || a.tenantId.localeCompare(b.tenantId))
      .map((t) => ({ tenantId: t.tenantId, peak: t.usage, atPooledPeak: t.contribution })),
  };
}
