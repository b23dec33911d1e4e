export const USAGE_WINDOWS = ['minute', 'hour', 'day', 'month'] as const;
export type UsageWindow = (typeof USAGE_WINDOWS)[number];

/** Most windows one usage query may ask for (a month of hours). */
export const MAX_WINDOWS = 744;

const FIXED_MS: Record<Exclude<UsageWindow, 'month'>, number> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

/** Start of the window holding `ms` (UTC). */
function windowStart(ms: number, window: UsageWindow): number {
  if (window === 'month') {
    const d = new Date(ms);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  }
  return Math.floor(ms / FIXED_MS[window]) * FIXED_MS[window];
}

function nextWindow(start: number, window: UsageWindow): number {
  if (window === 'month') {
    const d = new Date(start);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }
  return start + FIXED_MS[window];
}

/**
 * The windows covering [fromMs, toMs), clipped to the range at both ends; undefined when there
 * would be more than `max`.
 */
export function windowsOf(
  fromMs: number,
  toMs: number,
  window: UsageWindow,
  max = MAX_WINDOWS,
): { fromMs: number; toMs: number }[] | undefined {
  const windows: { fromMs: number; toMs: number }[] = [];
  for (let start = windowStart(fromMs, window); start < toMs; start = nextWindow(start, window)) {
    if (windows.length === max) return undefined;
    windows.push({ fromMs: Math.max(start, fromMs), toMs: Math.min(nextWindow(start, window), toMs) });
  }
  return windows;
}
