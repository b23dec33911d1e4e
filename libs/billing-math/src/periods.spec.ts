import fc from 'fast-check';
import { BillingMathErrorCode } from './errors';
import { BillingCalendar, type BillingPeriod } from './periods';
import { errorCode } from './test-support/generators';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Zones where local midnight exists every day (offsets change at 02:00 or not at all). */
const MIDNIGHT_ZONES = ['UTC', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Europe/London'];
/** Zones that also skip midnight (America/Santiago: DST starts at 24:00). */
const ZONES = [...MIDNIGHT_ZONES, 'America/Santiago', 'Pacific/Chatham'];

const calendar = (anchorDay: number, timeZone: string) => new BillingCalendar({ anchorDay, timeZone });
const utc = (iso: string) => Date.parse(iso);

/** Local date and time read through a formatter of its own, not the calculator's. */
function local(timeZone: string, instantMs: number) {
  const text = new Date(instantMs).toLocaleString('sv-SE', { timeZone, hourCycle: 'h23' });
  const [date, time] = text.split(' ');
  const [year, month, day] = date.split('-').map(Number);
  return { date, time, year, month, day };
}
const lastDay = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

const instants = fc.integer({ min: utc('1990-01-01T00:00:00Z'), max: utc('2060-12-31T00:00:00Z') });
const anchors = fc.integer({ min: 1, max: 31 });

describe(BillingCalendar.name, () => {
  it('tiles time: each period starts where the previous one ended, across years', () => {
    fc.assert(
      fc.property(anchors, fc.constantFrom(...ZONES), instants, (anchor, zone, t) => {
        const cal = calendar(anchor, zone);
        let p = cal.periodAt(t);
        for (let i = 0; i < 14; i++) {
          const next = cal.next(p);
          expect(next.startMs).toBe(p.endMs);
          expect(p.startMs < p.endMs).toBe(true);
          expect(cal.previous(next)).toEqual(p);
          p = next;
        }
      }),
      { numRuns: 60 },
    );
  });

  it('returns the period containing the instant, start included and end excluded', () => {
    fc.assert(
      fc.property(anchors, fc.constantFrom(...ZONES), instants, (anchor, zone, t) => {
        const cal = calendar(anchor, zone);
        const p = cal.periodAt(t);
        expect(p.startMs <= t && t < p.endMs).toBe(true);
        expect(cal.periodAt(p.startMs)).toEqual(p);
        expect(cal.periodAt(p.endMs - 1)).toEqual(p);
        expect(cal.periodAt(p.endMs).startMs).toBe(p.endMs);
      }),
      { numRuns: 150 },
    );
  });

  it('starts every period at local midnight of the anchor day, or the last day of a shorter month', () => {
    fc.assert(
      fc.property(anchors, fc.constantFrom(...MIDNIGHT_ZONES), instants, (anchor, zone, t) => {
        const p = calendar(anchor, zone).periodAt(t);
        const start = local(zone, p.startMs);
        expect(start.time).toBe('00:00:00');
        expect(start.day).toBe(Math.min(anchor, lastDay(start.year, start.month)));
        expect(p.startDate).toBe(start.date);
        expect(local(zone, p.startMs - 1).time).toBe('23:59:59');
        // A month plus or minus the days February lacks and an hour of DST.
        expect(p.endMs - p.startMs).toBeGreaterThanOrEqual(28 * DAY - HOUR);
        expect(p.endMs - p.startMs).toBeLessThanOrEqual(31 * DAY + HOUR);
      }),
      { numRuns: 150 },
    );
  });

  it('steps a Jan 31 anchor through Feb 29 in a leap year and back to Mar 31', () => {
    const cal = calendar(31, 'UTC');
    const periods = cal.periodsBetween(utc('2024-01-31T00:00:00Z'), utc('2024-05-31T00:00:00Z'));
    expect(periods.map((p) => [p.startDate, p.endDate])).toEqual([
      ['2024-01-31', '2024-02-29'],
      ['2024-02-29', '2024-03-31'],
      ['2024-03-31', '2024-04-30'],
      ['2024-04-30', '2024-05-31'],
    ]);
  });

  it('steps a Jan 31 anchor through Feb 28 in a common year', () => {
    const p = calendar(31, 'Asia/Kolkata').periodAt(utc('2023-02-15T00:00:00Z'));
    expect([p.startDate, p.endDate]).toEqual(['2023-01-31', '2023-02-28']);
    expect([p.startMs, p.endMs]).toEqual([utc('2023-01-30T18:30:00Z'), utc('2023-02-27T18:30:00Z')]);
  });

  it('puts an instant exactly at the period end into the next period', () => {
    const cal = calendar(1, 'America/New_York');
    const end = utc('2026-02-01T05:00:00Z');
    expect(cal.periodAt(end - 1).endMs).toBe(end);
    expect(cal.periodAt(end)).toEqual({
      startMs: end,
      endMs: utc('2026-03-01T05:00:00Z'),
      startDate: '2026-02-01',
      endDate: '2026-03-01',
    });
  });

  it('is an hour short across the spring DST change in New York', () => {
    const p = calendar(8, 'America/New_York').periodAt(utc('2026-03-20T12:00:00Z'));
    expect([p.startMs, p.endMs]).toEqual([utc('2026-03-08T05:00:00Z'), utc('2026-04-08T04:00:00Z')]);
    expect(p.endMs - p.startMs).toBe(31 * DAY - HOUR);
  });

  it('is an hour long across the autumn DST change in New York', () => {
    const p = calendar(1, 'America/New_York').periodAt(utc('2026-11-01T12:00:00Z'));
    expect([p.startMs, p.endMs]).toEqual([utc('2026-11-01T04:00:00Z'), utc('2026-12-01T05:00:00Z')]);
    expect(p.endMs - p.startMs).toBe(30 * DAY + HOUR);
  });

  it('is half an hour short across the DST change on Lord Howe Island', () => {
    const p = calendar(1, 'Australia/Lord_Howe').periodAt(utc('2026-10-10T00:00:00Z'));
    expect([p.startMs, p.endMs]).toEqual([utc('2026-09-30T13:30:00Z'), utc('2026-10-31T13:00:00Z')]);
    expect(p.endMs - p.startMs).toBe(31 * DAY - HOUR / 2);
  });

  it('starts when the clocks jump where local midnight does not exist', () => {
    // Chile moved from 00:00 −04 straight to 01:00 −03 on 2024-09-08.
    const p = calendar(8, 'America/Santiago').periodAt(utc('2024-09-20T00:00:00Z'));
    expect(p.startMs).toBe(utc('2024-09-08T04:00:00Z'));
    expect(local('America/Santiago', p.startMs).time).toBe('01:00:00');
    expect(local('America/Santiago', p.startMs - 1).date).toBe('2024-09-07');
  });

  it('starts on the next day when the anchor day was skipped altogether', () => {
    // Samoa skipped 2011-12-30 when it crossed the date line.
    const p = calendar(30, 'Pacific/Apia').periodAt(utc('2012-01-10T00:00:00Z'));
    expect([p.startDate, p.startMs]).toEqual(['2011-12-31', utc('2011-12-30T10:00:00Z')]);
    expect(p.endDate).toBe('2012-01-30');
  });

  describe('periodsBetween', () => {
    it('lists the periods overlapping [from, to) without gaps', () => {
      fc.assert(
        fc.property(
          anchors,
          fc.constantFrom(...ZONES),
          instants,
          fc.integer({ min: 1, max: 400 * DAY }),
          (anchor, zone, from, length) => {
            const cal = calendar(anchor, zone);
            const periods = cal.periodsBetween(from, from + length);
            expect(periods[0]).toEqual(cal.periodAt(from));
            expect(periods[periods.length - 1]).toEqual(cal.periodAt(from + length - 1));
            periods.slice(1).forEach((p, i) => expect(p.startMs).toBe(periods[i].endMs));
          },
        ),
        { numRuns: 40 },
      );
    });

    it('gives exactly one period for its own bounds and none for an empty range', () => {
      const cal = calendar(15, 'Europe/London');
      const p: BillingPeriod = cal.periodAt(utc('2025-06-01T00:00:00Z'));
      expect(cal.periodsBetween(p.startMs, p.endMs)).toEqual([p]);
      expect(cal.periodsBetween(p.startMs, p.startMs)).toEqual([]);
      expect(cal.periodsBetween(p.endMs, p.startMs)).toEqual([]);
    });
  });

  it.each([0, 32, 1.5, Number.NaN])('refuses the anchor day %p', (anchorDay) => {
    expect(errorCode(() => calendar(anchorDay, 'UTC'))).toBe(BillingMathErrorCode.INVALID_ANCHOR_DAY);
  });

  it('refuses an unknown time zone', () => {
    expect(errorCode(() => calendar(1, 'Mars/Olympus'))).toBe(BillingMathErrorCode.INVALID_TIME_ZONE);
  });

  it.each([Number.NaN, 1.5, utc('0999-01-01T00:00:00Z'), Number.MAX_SAFE_INTEGER])(
    'refuses the instant %p',
    (t) => {
      expect(errorCode(() => calendar(1, 'UTC').periodAt(t))).toBe(BillingMathErrorCode.INVALID_INSTANT);
    },
  );
});
