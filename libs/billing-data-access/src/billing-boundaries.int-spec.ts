import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Invoice, PlanVersionSpec } from '@metering/billing-domain';
import { stackVar } from '@metering/testing';
import { BillingRunner, type RunResult } from './billing-run';
import type { BillingStore, Caller } from './billing.store';
import { ADMIN, openBillingDatabase } from './test-support/database';
import { EventUsage } from './test-support/usage';

const HOUR = 3_600_000;

/** Base fee 30.00 and every call billed at 0.01: an invoice's total is 3000 + its calls. */
const SPEC: PlanVersionSpec = {
  currency: 'USD',
  interval: 'month',
  baseFee: '30.00',
  meters: [{ meterKey: 'api_calls', included: '0', overage: { type: 'PER_UNIT', unitPrice: '0.01' } }],
  tenantLimits: { maxAgents: 5 },
  gracePeriodHours: 72,
};

interface BoundaryCase {
  name: string;
  timezone: string;
  anchorDay: number;
  /**
   * The billed periods' starts and, last, the end of the last one: the local date and the instant,
   * written out here (not computed by the calendar under test).
   */
  boundaries: [localDate: string, instant: string][];
  /** Local wall time of starts that are not midnight (midnight skipped by a DST change). */
  notMidnight?: Record<string, string>;
}

const CASES: BoundaryCase[] = [
  {
    name: 'Asia/Kolkata (UTC+5:30), anchor 1',
    timezone: 'Asia/Kolkata',
    anchorDay: 1,
    boundaries: [
      ['2024-01-01', '2023-12-31T18:30:00Z'],
      ['2024-02-01', '2024-01-31T18:30:00Z'],
      ['2024-03-01', '2024-02-29T18:30:00Z'],
      ['2024-04-01', '2024-03-31T18:30:00Z'],
      ['2024-05-01', '2024-04-30T18:30:00Z'],
      ['2024-06-01', '2024-05-31T18:30:00Z'],
      ['2024-07-01', '2024-06-30T18:30:00Z'],
    ],
  },
  {
    // DST starts 2024-03-10 (−8 → −7) and ends 2024-11-03 (−7 → −8).
    name: 'America/Los_Angeles (UTC−8/−7), anchor 1, both DST changes',
    timezone: 'America/Los_Angeles',
    anchorDay: 1,
    boundaries: [
      ['2024-01-01', '2024-01-01T08:00:00Z'],
      ['2024-02-01', '2024-02-01T08:00:00Z'],
      ['2024-03-01', '2024-03-01T08:00:00Z'],
      ['2024-04-01', '2024-04-01T07:00:00Z'],
      ['2024-05-01', '2024-05-01T07:00:00Z'],
      ['2024-06-01', '2024-06-01T07:00:00Z'],
      ['2024-07-01', '2024-07-01T07:00:00Z'],
      ['2024-08-01', '2024-08-01T07:00:00Z'],
      ['2024-09-01', '2024-09-01T07:00:00Z'],
      ['2024-10-01', '2024-10-01T07:00:00Z'],
      ['2024-11-01', '2024-11-01T07:00:00Z'],
      ['2024-12-01', '2024-12-01T08:00:00Z'],
      ['2025-01-01', '2025-01-01T08:00:00Z'],
    ],
  },
  {
    // Leap year; DST ends 2024-04-07 (+13:45 → +12:45).
    name: 'Pacific/Chatham (UTC+13:45/+12:45), anchor 31 across a leap February',
    timezone: 'Pacific/Chatham',
    anchorDay: 31,
    boundaries: [
      ['2024-01-31', '2024-01-30T10:15:00Z'],
      ['2024-02-29', '2024-02-28T10:15:00Z'],
      ['2024-03-31', '2024-03-30T10:15:00Z'],
      ['2024-04-30', '2024-04-29T11:15:00Z'],
      ['2024-05-31', '2024-05-30T11:15:00Z'],
      ['2024-06-30', '2024-06-29T11:15:00Z'],
    ],
  },
  {
    // Half-hour DST: ends 2025-04-06 (+11 → +10:30), starts 2025-10-05 (+10:30 → +11).
    name: 'Australia/Lord_Howe (UTC+11/+10:30), anchor 31 across a non-leap February',
    timezone: 'Australia/Lord_Howe',
    anchorDay: 31,
    boundaries: [
      ['2025-01-31', '2025-01-30T13:00:00Z'],
      ['2025-02-28', '2025-02-27T13:00:00Z'],
      ['2025-03-31', '2025-03-30T13:00:00Z'],
      ['2025-04-30', '2025-04-29T13:30:00Z'],
      ['2025-05-31', '2025-05-30T13:30:00Z'],
      ['2025-06-30', '2025-06-29T13:30:00Z'],
      ['2025-07-31', '2025-07-30T13:30:00Z'],
      ['2025-08-31', '2025-08-30T13:30:00Z'],
      ['2025-09-30', '2025-09-29T13:30:00Z'],
      ['2025-10-31', '2025-10-30T13:00:00Z'],
      ['2025-11-30', '2025-11-29T13:00:00Z'],
    ],
  },
  {
    // Clocks jump from 00:00 to 01:00 on 2024-09-08: that day's period starts at the jump.
    name: 'America/Santiago, anchor 8 on the day midnight does not exist',
    timezone: 'America/Santiago',
    anchorDay: 8,
    boundaries: [
      ['2024-08-08', '2024-08-08T04:00:00Z'],
      ['2024-09-08', '2024-09-08T04:00:00Z'],
      ['2024-10-08', '2024-10-08T03:00:00Z'],
    ],
    notMidnight: { '2024-09-08': '01:00:00' },
  },
  {
    // Clocks go back from 01:00 to 00:00 on 2024-11-03: midnight happens twice, the first counts.
    name: 'America/Havana, anchor 3 on the day midnight happens twice',
    timezone: 'America/Havana',
    anchorDay: 3,
    boundaries: [
      ['2024-10-03', '2024-10-03T04:00:00Z'],
      ['2024-11-03', '2024-11-03T04:00:00Z'],
      ['2024-12-03', '2024-12-03T05:00:00Z'],
    ],
  },
];

const wallClocks = new Map<string, Intl.DateTimeFormat>();
/** Local date and time of an instant (`YYYY-MM-DD`, `HH:MM:SS.mmm`), straight from Intl. */
function local(timeZone: string, ms: number): { date: string; time: string } {
  let f = wallClocks.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      fractionalSecondDigits: 3,
    });
    wallClocks.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, x.value]));
  return {
    date: `${p.year}-${p.month}-${p.day}`,
    time: `${p.hour}:${p.minute}:${p.second}.${p.fractionalSecond}`,
  };
}

const instants = (c: BoundaryCase) => c.boundaries.map(([, iso]) => Date.parse(iso));
const periodsOf = (c: BoundaryCase) => c.boundaries.length - 1;
/** Calls recorded exactly at period k's start, and one millisecond before its end. */
const atStart = (k: number) => 10n * BigInt(k + 1);
const beforeEnd = (k: number) => BigInt(k + 2);

describe('billing at period boundaries', () => {
  let owner: DataSource;
  let close: () => Promise<void>;
  let store: BillingStore;
  let usage: EventUsage;
  let runner: BillingRunner;
  let planId: string;

  beforeAll(async () => {
    ({ owner, store, close } = await openBillingDatabase(stackVar('POSTGRES_URL'), 'it_billing_bounds'));
    usage = new EventUsage();
    runner = new BillingRunner(store, usage);
    planId = (await store.createPlan(ADMIN, { name: 'Boundaries', spec: SPEC })).id;
  });

  afterAll(() => close());

  /**
   * An account subscribed from the case's first period start, with calls at every boundary (they
   * belong to the period starting there) and a millisecond before it (the period ending there).
   */
  async function subscribed(c: BoundaryCase): Promise<string> {
    const accountId = `acc_${randomUUID().slice(0, 8)}`;
    const [first] = instants(c);
    await store.subscribe(ADMIN, {
      accountId,
      planId,
      planVersion: 1,
      startAtMs: first,
      anchorDay: c.anchorDay,
      timezone: c.timezone,
      nowMs: Date.now(),
    });
    const record = (tenantId: string, atMs: number, quantity: bigint) =>
      usage.record({ accountId, tenantId, meterKey: 'api_calls', atMs, quantity });
    // Before the subscription: never billed.
    record('before_end', first - 1, 1000n);
    instants(c).forEach((b, k) => {
      record('at_start', b, atStart(k));
      if (k > 0) record('before_end', b - 1, beforeEnd(k - 1));
    });
    return accountId;
  }

  const invoicesOf = (accountId: string) => store.listInvoices(ADMIN, accountId);

  /** Exactly one invoice per expected period, tiling the account's local anchor-day midnights. */
  async function expectBilledOnce(c: BoundaryCase, accountId: string): Promise<Invoice[]> {
    const invoices = await invoicesOf(accountId);
    const expected = c.boundaries.slice(0, -1).map(([date, iso], k) => ({
      periodStartDate: date,
      periodEndDate: c.boundaries[k + 1][0],
      periodStartMs: Date.parse(iso),
      periodEndMs: Date.parse(c.boundaries[k + 1][1]),
    }));
    expect(
      invoices.map((i) => ({
        periodStartDate: i.periodStartDate,
        periodEndDate: i.periodEndDate,
        periodStartMs: i.periodStartMs,
        periodEndMs: i.periodEndMs,
      })),
    ).toEqual(expected);
    invoices.forEach((invoice, k) => {
      // No gap, no overlap.
      if (k > 0) expect(invoice.periodStartMs).toBe(invoices[k - 1].periodEndMs);
      // Starts on the anchor day, clamped to the month's last day, at its first local instant.
      const [year, month, day] = invoice.periodStartDate.split('-').map(Number);
      const lastDay = new Date(Date.UTC(year, month, 0)).getUTCDate();
      expect(day).toBe(Math.min(c.anchorDay, lastDay));
      const start = local(c.timezone, invoice.periodStartMs);
      expect(start.date).toBe(invoice.periodStartDate);
      expect(start.time).toBe(`${c.notMidnight?.[start.date] ?? '00:00:00'}.000`);
      expect(local(c.timezone, invoice.periodStartMs - 1).date < invoice.periodStartDate).toBe(true);
      // Calls at the period's start are its own; those at its end are the next period's.
      const calls = atStart(k) + beforeEnd(k);
      const usageLine = invoice.lines.find((l) => l.kind === 'usage');
      expect(usageLine).toMatchObject({ pooled: calls.toString(), amount: calls });
      expect(Object.fromEntries(usageLine!.attribution.map((a) => [a.tenantId, a.quantity]))).toEqual({
        at_start: atStart(k).toString(),
        before_end: beforeEnd(k).toString(),
      });
      expect(invoice.lines.filter((l) => l.kind === 'base_fee')).toEqual([
        expect.objectContaining({ amount: 3000n, fromMs: invoice.periodStartMs, toMs: invoice.periodEndMs }),
      ]);
      expect(invoice.lines.filter((l) => l.kind === 'adjustment')).toEqual([]);
      expect(invoice.total).toBe(3000n + calls);
    });
    const [drafted] = await owner.query<{ n: string }[]>(
      `SELECT count(*) AS n FROM es_outbox WHERE payload->>'type' = 'invoice.drafted' AND key = $1`,
      [accountId],
    );
    expect(Number(drafted.n)).toBe(periodsOf(c));
    // Aggregation was only ever asked for whole periods of the account.
    const windows = new Set(expected.map((p) => `${p.periodStartMs}-${p.periodEndMs}`));
    for (const r of usage.requests.filter((q) => q.accountId === accountId))
      expect(windows).toContain(`${r.fromMs}-${r.toMs}`);
    return invoices;
  }

  const periodStartsIn = (result: RunResult) =>
    result.accounts.flatMap((a) => a.invoices.map((i) => i.periodStart));

  it('counts usage over [from, to) in the usage stand-in, like aggregation', async () => {
    const stub = new EventUsage();
    for (const [tenantId, atMs] of [
      ['a', 999],
      ['b', 1000],
      ['c', 1999],
      ['d', 2000],
    ] as const)
      stub.record({ accountId: 'x', tenantId, meterKey: 'api_calls', atMs, quantity: 1n });
    const [answer] = await stub.periodUsage({
      accountId: 'x',
      fromMs: 1000,
      toMs: 2000,
      meterKeys: ['api_calls'],
    });
    expect(answer.tenants.map((t) => t.tenantId)).toEqual(['b', 'c']);
  });

  it.each(CASES.map((c) => [c.name, c] as const))(
    '%s: runs stepping across each period end bill each period once, on its own usage',
    async (_name, c) => {
      const accountId = await subscribed(c);
      const bounds = instants(c);
      for (let k = 1; k < bounds.length; k++) {
        // A millisecond before the end, the period has not ended: not billed yet.
        const early = await runner.run(ADMIN, bounds[k] - 1, accountId);
        expect(periodStartsIn(early)).not.toContain(c.boundaries[k - 1][0]);
        expect(await invoicesOf(accountId)).toHaveLength(k - 1);
        // Exactly at the end it has, and the call at the end is not in it.
        const atEnd = await runner.run(ADMIN, bounds[k], accountId);
        expect(periodStartsIn(atEnd)).toContain(c.boundaries[k - 1][0]);
        const latest = (await invoicesOf(accountId)).at(-1)!;
        expect(latest).toMatchObject({ periodStartMs: bounds[k - 1], periodEndMs: bounds[k] });
        expect(latest.total).toBe(3000n + atStart(k - 1) + beforeEnd(k - 1));
        // Overlapping later runs change nothing that was billed.
        await runner.run(ADMIN, bounds[k] + HOUR / 2, accountId);
        expect(await invoicesOf(accountId)).toHaveLength(k);
      }
      const invoices = await expectBilledOnce(c, accountId);
      // Every period but the last is past its grace by now; the last is still a draft.
      expect(invoices.map((i) => i.status)).toEqual([
        ...Array.from({ length: periodsOf(c) - 1 }, () => 'finalized'),
        'draft',
      ]);
    },
  );

  it.each(CASES.map((c) => [c.name, c] as const))(
    '%s: concurrent runs with overlapping asOf values bill each period once',
    async (_name, c) => {
      const accountId = await subscribed(c);
      const bounds = instants(c);
      const n = periodsOf(c);
      const own: Caller = { scope: { accountId }, actor: { type: 'system', id: 'int-test' } };
      const asOfs = [
        bounds[n],
        bounds[n] - 1,
        bounds[n] + HOUR,
        bounds[n - 1],
        bounds[Math.ceil(n / 2)],
        bounds[1],
        bounds[n],
        bounds[n] + 96 * HOUR,
      ];
      await Promise.all([
        ...asOfs.map((asOf) => runner.run(ADMIN, asOf, accountId)),
        // Runs over every account in scope, as the scheduled run does.
        runner.run(own, bounds[n]),
        runner.run(own, bounds[n] + 2 * HOUR),
      ]);
      const invoices = await expectBilledOnce(c, accountId);
      expect(invoices.every((i) => i.status === 'finalized')).toBe(true);
      // Once everything is finalized, further runs leave it alone.
      const again = await Promise.all([
        runner.run(ADMIN, bounds[n] + 96 * HOUR, accountId),
        runner.run(own, bounds[n] + 100 * HOUR),
      ]);
      expect(again.flatMap(periodStartsIn)).toEqual([]);
      await expectBilledOnce(c, accountId);
    },
  );
});
