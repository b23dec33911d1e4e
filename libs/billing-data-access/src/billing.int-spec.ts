import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { SubscriptionChangedData, validateAs } from '@metering/contracts';
import type { MeterPeriodUsage, PlanVersionSpec } from '@metering/billing-domain';
import { UNIT } from '@metering/meters';
import { stackVar } from '@metering/testing';
import { BillingRunner, type PeriodUsageSource } from './billing-run';
import { BillingStore, type Caller } from './billing.store';
import { ADMIN, openBillingDatabase } from './test-support/database';
import { apiCalls, summedMeters } from './test-support/usage';

const HOUR = 3_600_000;
const now = new Date();
/** The previous UTC month, ended at the start of this one; runs happen an hour after it ended. */
const PERIOD_START = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1);
const PERIOD_END = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
const IN_GRACE = PERIOD_END + HOUR;

const spec = (patch: Partial<PlanVersionSpec> = {}): PlanVersionSpec => ({
  currency: 'USD',
  interval: 'month',
  baseFee: '30.00',
  meters: [{ meterKey: 'api_calls', included: '100', overage: { type: 'PER_UNIT', unitPrice: '0.01' } }],
  tenantLimits: { maxAgents: 5 },
  gracePeriodHours: 72,
  ...patch,
});

/** Aggregation's answers, set per account by the test. */
class FixedUsage implements PeriodUsageSource {
  readonly byAccount = new Map<string, MeterPeriodUsage[]>();
  /** Answers for one period (`accountId@fromMs`), ahead of the account's. */
  readonly byPeriod = new Map<string, MeterPeriodUsage[]>();
  periodUsage(request: { accountId: string; fromMs: number }): Promise<MeterPeriodUsage[]> {
    const answer =
      this.byPeriod.get(`${request.accountId}@${request.fromMs}`) ??
      this.byAccount.get(request.accountId) ??
      [];
    return Promise.resolve(answer);
  }
  meterKinds = summedMeters;
}

describe(BillingStore.name, () => {
  let owner: DataSource;
  let close: () => Promise<void>;
  let store: BillingStore;
  let usage: FixedUsage;
  let runner: BillingRunner;
  let planId: string;

  beforeAll(async () => {
    ({ owner, store, close } = await openBillingDatabase(stackVar('POSTGRES_URL'), 'it_billing'));
    usage = new FixedUsage();
    runner = new BillingRunner(store, usage);
    planId = (await store.createPlan(ADMIN, { name: 'Growth', spec: spec() })).id;
  });

  afterAll(() => close());

  /** A new account subscribed from the start of the previous UTC month, with usage of two tenants. */
  async function subscribedAccount(): Promise<string> {
    const accountId = `acc_${randomUUID().slice(0, 8)}`;
    await store.subscribe(ADMIN, {
      accountId,
      planId,
      planVersion: 1,
      startAtMs: PERIOD_START,
      nowMs: Date.now(),
    });
    usage.byAccount.set(accountId, [
      {
        meterKey: 'api_calls',
        pooled: 250n * UNIT,
        tenants: [
          { tenantId: 't1', contribution: 200n * UNIT },
          { tenantId: 't2', contribution: 50n * UNIT },
        ],
      },
    ]);
    return accountId;
  }

  it('drafts one invoice per ended period however many runs race', async () => {
    const accountId = await subscribedAccount();
    const runs = await Promise.all(Array.from({ length: 4 }, () => runner.run(ADMIN, IN_GRACE, accountId)));
    const invoices = await store.listInvoices(ADMIN, accountId);
    expect(invoices).toHaveLength(1);
    expect(runs.flatMap((r) => r.accounts[0].invoices.map((i) => i.outcome)).sort()).toEqual([
      'drafted',
      'unchanged',
      'unchanged',
      'unchanged',
    ]);
    // base fee 30.00 + 150 over at 0.01
    expect(invoices[0]).toMatchObject({ status: 'draft', total: 3150n });
    const rows = await owner.query<{ n: string }[]>(
      `SELECT count(*) AS n FROM es_outbox WHERE payload->>'type' = 'invoice.drafted' AND key = $1`,
      [accountId],
    );
    expect(rows[0].n).toBe('1');
  });

  it('bills every subscribed account once when a run bills several at a time, one failure apart', async () => {
    const accounts = await Promise.all(Array.from({ length: 6 }, () => subscribedAccount()));
    const failing = accounts[2];
    const concurrent = new BillingRunner(
      store,
      {
        periodUsage: (request) =>
          request.accountId === failing
            ? Promise.reject(new Error('usage unavailable'))
            : usage.periodUsage(request),
        meterKinds: summedMeters,
      },
      4,
    );
    const run = await concurrent.run(ADMIN, IN_GRACE);
    const ours = run.accounts.filter((a) => accounts.includes(a.accountId));
    expect(ours.map((a) => a.accountId).sort()).toEqual(accounts.filter((a) => a !== failing).sort());
    expect(run.failed).toEqual([{ accountId: failing, error: 'usage unavailable' }]);
    // In the order the store lists the accounts, whatever order they finished in.
    const listed = (await store.subscribedAccounts(ADMIN)).filter((a) => a !== failing);
    expect(run.accounts.map((a) => a.accountId)).toEqual(listed);
    for (const accountId of accounts) {
      const invoices = await store.listInvoices(ADMIN, accountId);
      expect(invoices).toHaveLength(accountId === failing ? 0 : 1);
    }
  });

  it('leaves to the next scheduled run the accounts another run is billing or just billed', async () => {
    const [busy, justBilled, other] = await Promise.all(Array.from({ length: 3 }, () => subscribedAccount()));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const runs = new BillingRunner(
      store,
      {
        periodUsage: async (request) => {
          if (request.accountId === busy) await held;
          return usage.periodUsage(request);
        },
        meterKinds: summedMeters,
      },
      2,
    );
    const ours = (ids: readonly string[] = []) => ids.filter((id) => [busy, justBilled, other].includes(id));
    const billed = (run: { accounts: { accountId: string }[] }) => ours(run.accounts.map((a) => a.accountId));
    const scheduled = () => runs.run(ADMIN, IN_GRACE, undefined, { skipRecentMs: 60_000 });

    const requested = runs.run(ADMIN, IN_GRACE, busy);
    await runs.run(ADMIN, IN_GRACE, justBilled);
    const first = await scheduled();
    expect(billed(first)).toEqual([other]);
    expect(ours(first.skipped).sort()).toEqual([busy, justBilled].sort());

    release();
    expect((await requested).accounts[0].invoices).toEqual([expect.objectContaining({ outcome: 'drafted' })]);
    // A requested run over every account holds them all from its start, reached or not.
    let releaseAll!: () => void;
    let reached!: () => void;
    const heldAll = new Promise<void>((resolve) => (releaseAll = resolve));
    const firstAccountReached = new Promise<void>((resolve) => (reached = resolve));
    const slowRuns = new BillingRunner(
      store,
      {
        periodUsage: async (request) => {
          reached();
          await heldAll;
          return usage.periodUsage(request);
        },
        meterKinds: summedMeters,
      },
      1,
    );
    const overAll = slowRuns.run(ADMIN, IN_GRACE);
    await firstAccountReached;
    const during = await slowRuns.run(ADMIN, IN_GRACE, undefined, { skipRecentMs: 60_000 });
    expect(billed(during)).toEqual([]);
    expect(ours(during.skipped).sort()).toEqual([busy, justBilled, other].sort());
    releaseAll();
    expect(billed(await overAll).sort()).toEqual([busy, justBilled, other].sort());
    // A scheduled run does not count as billing: the next tick bills `other` again.
    const second = await scheduled();
    expect(billed(second)).toEqual([other]);
    // Billed as of more than the window before: billed again.
    const later = await runs.run(ADMIN, IN_GRACE + 61_000, undefined, { skipRecentMs: 60_000 });
    expect(billed(later).sort()).toEqual([busy, justBilled, other].sort());
    // Runs without the option bill everything, and report no skipped list.
    const plain = await runs.run(ADMIN, IN_GRACE);
    expect(billed(plain).sort()).toEqual([busy, justBilled, other].sort());
    expect(plain.skipped).toBeUndefined();
    for (const accountId of [busy, justBilled, other]) {
      expect(await store.listInvoices(ADMIN, accountId)).toHaveLength(1);
    }
  });

  it('re-rates a draft on late usage and stops once it is finalized', async () => {
    const accountId = await subscribedAccount();
    await runner.run(ADMIN, IN_GRACE, accountId);
    usage.byAccount.get(accountId)![0] = {
      meterKey: 'api_calls',
      pooled: 300n * UNIT,
      tenants: [
        { tenantId: 't1', contribution: 200n * UNIT },
        { tenantId: 't2', contribution: 100n * UNIT },
      ],
    };
    const rerated = await runner.run(ADMIN, IN_GRACE, accountId);
    expect(rerated.accounts[0].invoices[0]).toMatchObject({ outcome: 'rerated' });
    const [invoice] = await store.listInvoices(ADMIN, accountId);
    expect(invoice.total).toBe(3200n);
    await store.finalize(ADMIN, invoice.id);
    usage.byAccount.get(accountId)![0].pooled = 999n * UNIT;
    const after = await runner.run(ADMIN, IN_GRACE, accountId);
    expect(after.accounts[0].invoices).toEqual([]);
    expect((await store.getInvoice(ADMIN, invoice.id)).total).toBe(3200n);
  });

  it('refuses to change a finalized invoice or its lines in the database itself', async () => {
    const accountId = await subscribedAccount();
    await runner.run(ADMIN, IN_GRACE, accountId);
    const [draft] = await store.listInvoices(ADMIN, accountId);
    await store.finalize(ADMIN, draft.id);
    await expect(
      owner.query(`UPDATE invoices SET total_minor = 1 WHERE id = $1`, [draft.id]),
    ).rejects.toThrow(/cannot change/);
    await expect(
      owner.query(`UPDATE invoices SET status = 'draft' WHERE id = $1`, [draft.id]),
    ).rejects.toThrow(/cannot change/);
    await expect(owner.query(`DELETE FROM invoices WHERE id = $1`, [draft.id])).rejects.toThrow(
      /never deleted/,
    );
    await expect(
      owner.query(`UPDATE invoice_lines SET amount_minor = 0 WHERE invoice_id = $1`, [draft.id]),
    ).rejects.toThrow(/cannot change/);
    const voided = await store.void(ADMIN, draft.id, 'issued in error');
    expect(voided).toMatchObject({ status: 'void', voidReason: 'issued in error', total: 3150n });
    await expect(
      owner.query(`UPDATE invoices SET void_reason = 'x' WHERE id = $1`, [draft.id]),
    ).rejects.toThrow(/cannot change/);
  });

  it('finalizes automatically once the grace period is over', async () => {
    const accountId = await subscribedAccount();
    const first = await runner.run(ADMIN, IN_GRACE, accountId);
    expect(first.accounts[0].invoices[0]).toMatchObject({ outcome: 'drafted', status: 'draft' });
    const [invoice] = await store.listInvoices(ADMIN, accountId);
    expect(invoice.graceUntilMs).toBe(PERIOD_END + 72 * HOUR);
    const last = await runner.run(ADMIN, invoice.graceUntilMs - 1, accountId);
    expect(last.accounts[0].invoices[0]).toMatchObject({ status: 'draft' });
    const after = await runner.run(ADMIN, invoice.graceUntilMs, accountId);
    expect(after.accounts[0].invoices[0]).toMatchObject({ outcome: 'finalized', status: 'finalized' });
  });

  it("keeps one account's invoices from another account's caller", async () => {
    const a = await subscribedAccount();
    const b = await subscribedAccount();
    await runner.run(ADMIN, IN_GRACE, a);
    const [invoice] = await store.listInvoices(ADMIN, a);
    const callerB: Caller = { scope: { accountId: b }, actor: { type: 'management-key', id: 'k' } };
    await expect(store.getInvoice(callerB, invoice.id)).rejects.toMatchObject({ code: 'invoice_not_found' });
    expect(await store.listInvoices(callerB, a)).toEqual([]);
  });

  it('publishes subscription.changed with the plan terms aggregation needs', async () => {
    const accountId = await subscribedAccount();
    const [row] = await owner.query<{ payload: { data: unknown } }[]>(
      `SELECT payload FROM es_outbox WHERE key = $1 AND payload->>'type' = 'subscription.changed'`,
      [accountId],
    );
    expect(row.payload.data).toEqual({
      subscriptionId: expect.stringMatching(/^sub_/),
      planId,
      planVersion: 1,
      currency: 'USD',
      anchorDay: 1,
      timezone: 'UTC',
      effectiveFromMs: expect.any(Number),
      meters: [{ meterKey: 'api_calls', included: '100' }],
      tenantLimits: { maxAgents: 5 },
    });
    expect(validateAs(SubscriptionChangedData, row.payload.data)).toMatchObject({ ok: true });
  });

  it('bills late usage of a finalized period as an adjustment on the next draft', async () => {
    const accountId = `acc_${randomUUID().slice(0, 8)}`;
    const earlier = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 1);
    await store.subscribe(ADMIN, {
      accountId,
      planId,
      planVersion: 1,
      startAtMs: earlier,
      nowMs: Date.now(),
    });
    usage.byPeriod.set(`${accountId}@${earlier}`, apiCalls({ t1: 150n }));
    usage.byPeriod.set(`${accountId}@${PERIOD_START}`, apiCalls({ t1: 100n }));
    const first = await runner.run(ADMIN, IN_GRACE, accountId);
    // The earlier period's grace ended long before: finalized at once; the last one is a draft.
    expect(first.accounts[0].invoices.map((i) => i.status)).toEqual(['finalized', 'draft']);
    usage.byPeriod.set(`${accountId}@${earlier}`, apiCalls({ t1: 150n, t2: 30n }));
    await runner.run(ADMIN, IN_GRACE, accountId);
    const [finalized, draft] = await store.listInvoices(ADMIN, accountId);
    expect(finalized.total).toBe(3050n);
    const adjustment = draft.lines.find((l) => l.kind === 'adjustment');
    expect(adjustment).toMatchObject({
      amount: 30n,
      adjusts: { invoiceId: finalized.id, invoicedAmount: 50n },
    });
    expect(adjustment?.attribution).toEqual([
      { tenantId: 't1', quantity: '0', amount: 0n },
      { tenantId: 't2', quantity: '30', amount: 30n },
    ]);
    expect(draft.total).toBe(3000n + 30n);
  });

  it('prorates base fees when the plan changes mid-period, and prices usage on the new plan', async () => {
    const accountId = `acc_${randomUUID().slice(0, 8)}`;
    const v2 = await store.addPlanVersion(ADMIN, planId, {
      ...spec({ baseFee: '60.00' }),
      meters: [{ meterKey: 'api_calls', included: '200', overage: { type: 'PER_UNIT', unitPrice: '0.01' } }],
    });
    await store.subscribe(ADMIN, {
      accountId,
      planId,
      planVersion: 1,
      startAtMs: PERIOD_START,
      nowMs: PERIOD_START,
    });
    const changeAt = PERIOD_START + 10 * 24 * HOUR;
    await store.subscribe(ADMIN, {
      accountId,
      planId,
      planVersion: v2.version,
      timing: 'now',
      nowMs: changeAt,
    });
    usage.byAccount.set(accountId, apiCalls({ t1: 250n }));
    await runner.run(ADMIN, IN_GRACE, accountId);
    const [invoice] = await store.listInvoices(ADMIN, accountId);
    const days = (PERIOD_END - PERIOD_START) / (24 * HOUR);
    const [before, after] = invoice.lines.filter((l) => l.kind === 'base_fee');
    // 30.00 for 10 of the month's days on v1, 60.00 for the rest on v2 (half to even, once each).
    const newPart = (6000n * BigInt(days - 10) * 2n + BigInt(days)) / (2n * BigInt(days));
    const oldPart = 3000n - (3000n * BigInt(days - 10) * 2n + BigInt(days)) / (2n * BigInt(days));
    expect([before.amount, after.amount]).toEqual([oldPart, newPart]);
    expect(invoice.lines.find((l) => l.kind === 'usage')).toMatchObject({
      planVersion: v2.version,
      amount: 50n,
    });
  });

  it('refuses to change a plan version', async () => {
    await expect(
      owner.query(`UPDATE plan_versions SET spec = '{}' WHERE plan_id = $1`, [planId]),
    ).rejects.toThrow(/immutable/);
  });
});
