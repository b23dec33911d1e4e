import { BillingMathError, BillingMathErrorCode } from './errors';

const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new BillingMathError(BillingMathErrorCode.INVALID_TIME_ZONE, `unknown time zone ${timeZone}`, {
        field: 'timeZone',
      });
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** Throws unless the IANA time zone is known to this runtime. */
export const checkTimeZone = (timeZone: string): void => void formatter(timeZone);

/**
 * The local wall-clock time of an instant, written as if it were UTC milliseconds
 * (`Date.UTC(y, m - 1, d, h, min, s, ms)`). Its difference to the instant is the zone's offset then.
 */
export function wallClock(timeZone: string, instantMs: number): number {
  const parts = formatter(timeZone).formatToParts(instantMs);
  const field = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  const wall = new Date(0);
  wall.setUTCFullYear(field('year'), field('month') - 1, field('day'));
  wall.setUTCHours(field('hour'), field('minute'), field('second'), ((instantMs % 1000) + 1000) % 1000);
  return wall.getTime();
}

/**
 * The first instant whose local date is the given day or later: local midnight, or where
 * midnight does not exist (a DST gap at 00:00, a skipped day) the instant the clocks jump, or
 * where midnight happens twice, the first time.
 */
export function startOfLocalDay(timeZone: string, year: number, month: number, day: number): number {
  const target = new Date(0);
  target.setUTCFullYear(year, month - 1, day);
  const w = target.getTime();
  // Offsets in force around the day; zones change offset far less often than once a day.
  const offsets = [...new Set([w - DAY_MS, w, w + DAY_MS].map((t) => wallClock(timeZone, t) - t))];
  const exact = offsets.map((o) => w - o).filter((t) => wallClock(timeZone, t) === w);
  if (exact.length) return Math.min(...exact);
  // Midnight falls in a gap: the wall clock is before it at `lo` and past it at `hi`.
  let lo = w - Math.max(...offsets);
  let hi = w - Math.min(...offsets);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallClock(timeZone, mid) >= w) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The local calendar date of an instant as `YYYY-MM-DD`. */
export const localDate = (timeZone: string, instantMs: number): string =>
  new Date(wallClock(timeZone, instantMs)).toISOString().slice(0, 10);
