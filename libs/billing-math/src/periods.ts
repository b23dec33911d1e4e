import { BillingMathError, BillingMathErrorCode } from './errors';
import { checkTimeZone, localDate, startOfLocalDay, wallClock } from './local-time';

/** A billing period `[startMs, endMs)`: an instant exactly at `endMs` belongs to the next one. */
export interface BillingPeriod {
  startMs: number;
  endMs: number;
  /** Local calendar dates (in the calendar's zone) of the start and end instants, `YYYY-MM-DD`. */
  startDate: string;
  endDate: string;
}

export interface BillingCalendarOptions {
  /** Day of the month periods start on, 1–31; months shorter than that start on their last day. */
  anchorDay: number;
  /** IANA time zone whose local midnight starts a period, e.g. `America/New_York`. */
  timeZone: string;
}

// Instants the calculator accepts: years 1000 to 9998, so a period and its neighbours stay within
// four-digit years.
const MIN_INSTANT_MS = Date.UTC(1000, 1, 1);
const MAX_INSTANT_MS = Date.UTC(9998, 11, 1);

const daysInMonth = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

/**
 * Monthly billing periods of an account (ARCHITECTURE.md §5): each starts at the first instant
 * of the anchor day in the account's time zone (local midnight; Jan 31 → Feb 28/29 → Mar 31) and
 * ends where the next starts, so consecutive periods tile time with no gap and no overlap.
 */
export class BillingCalendar {
  readonly anchorDay: number;
  readonly timeZone: string;

  constructor(options: BillingCalendarOptions) {
    if (!Number.isInteger(options.anchorDay) || options.anchorDay < 1 || options.anchorDay > 31) {
      throw new BillingMathError(
        BillingMathErrorCode.INVALID_ANCHOR_DAY,
        `anchor day must be an integer from 1 to 31, got ${options.anchorDay}`,
        { field: 'anchorDay' },
      );
    }
    checkTimeZone(options.timeZone);
    this.anchorDay = options.anchorDay;
    this.timeZone = options.timeZone;
  }

  /** The period containing the instant. */
  periodAt(instantMs: number): BillingPeriod {
    checkInstant(instantMs);
    const wall = new Date(wallClock(this.timeZone, instantMs));
    let month = wall.getUTCFullYear() * 12 + wall.getUTCMonth();
    // The local month's period, or a neighbour when the instant is before its anchor day.
    while (instantMs < this.start(month)) month--;
    while (instantMs >= this.start(month + 1)) month++;
    return this.period(month);
  }

  /** The period that starts where `period` ends. */
  next(period: BillingPeriod): BillingPeriod {
    return this.periodAt(period.endMs);
  }

  /** The period that ends where `period` starts. */
  previous(period: BillingPeriod): BillingPeriod {
    return this.periodAt(period.startMs - 1);
  }

  /** The periods that overlap `[fromMs, toMs)`, in order; none when `toMs <= fromMs`. */
  periodsBetween(fromMs: number, toMs: number): BillingPeriod[] {
    checkInstant(toMs);
    const periods: BillingPeriod[] = [];
    if (toMs <= fromMs) return periods;
    for (let p = this.periodAt(fromMs); p.startMs < toMs; p = this.next(p)) periods.push(p);
    return periods;
  }

  /** Start of the period anchored in month index `y * 12 + (m - 1)`. */
  private start(monthIndex: number): number {
    const year = Math.floor(monthIndex / 12);
    const month = monthIndex - year * 12 + 1;
    return startOfLocalDay(this.timeZone, year, month, Math.min(this.anchorDay, daysInMonth(year, month)));
  }

  private period(monthIndex: number): BillingPeriod {
    const startMs = this.start(monthIndex);
    const endMs = this.start(monthIndex + 1);
    return {
      startMs,
      endMs,
      startDate: localDate(this.timeZone, startMs),
      endDate: localDate(this.timeZone, endMs),
    };
  }
}

function checkInstant(instantMs: number): void {
  if (!Number.isInteger(instantMs) || instantMs < MIN_INSTANT_MS || instantMs > MAX_INSTANT_MS) {
    throw new BillingMathError(
      BillingMathErrorCode.INVALID_INSTANT,
      `instant must be whole milliseconds between the years 1000 and 9998, got ${instantMs}`,
    );
  }
}
