import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { TENANT_SUBSCRIPTION_CHANGED, TenantSubscriptionChangedData, validateAs } from '@metering/contracts';
import { BillingErrorCode, type Invoice, type PlanVersionSpec } from '@metering/billing-domain';
import { stackVar } from '@metering/testing';
import { BillingRunner } from './billing-run';
import type { BillingStore } from './billing.store';
import { ADMIN, openBillingDatabase } from './test-support/database';
import { EventUsage } from './test-support/usage';

const DAY = 86_400_000;
/** Three whole UTC months, the last ended well before now. */
const MARCH = Date.UTC(2025, 2, 1);
const APRIL = Date.UTC(2025, 3, 1);
const MAY = Date.UTC(2025, 4, 1);
const JUNE = Date.UTC(2025, 5, 1);
const AFTER_GRACE = JUNE + 10 * DAY;

/** Base fee and a price per call: an invoice's total is `baseMinor + calls × perCallMinor` over the included. */
const spec = (baseFee: string, unitPrice: string, included = '0'): PlanVersionSpec => ({
  currency: 'USD',
  interval: 'month',
  baseFee,
  meters: [{ meterKey: 'api_calls', included, overage: { type: 'PER_UNIT', unitPrice } }],
  tenantLimits: {},
  gracePeriodHours: 72,
});

describe('billing modes', () => {
  let owner: DataSource;
  let close: () => Promise<void>;
  let store: BillingStore;
  let usage: EventUsage;
  let runner: BillingRunner;
  let poolPlan: string;
  let ownPlan: string;

  beforeAll(async () => {
    ({ owner, store, close } = await openBillingDatabase(stackVar('POSTGRES_URL'), 'it_billing_modes'));
    usage = new EventUsage();
    runner = new BillingRunner(store, usage);
    poolPlan = (await store.createPlan(ADMIN, { name: 'Pool', spec: spec('30.00', '0.01') })).id;
    ownPlan = (await store.createPlan(ADMIN, { name: 'Own', spec: spec('5.00', '0.10', '2') })).id;
  });

  afterAll(() => close());

  async function account(): Promise<string> {
    const accountId = `acc_${randomUUID().slice(0, 8)}`;
    await store.subscribe(ADMIN, {
      accountId,
      planId: poolPlan,
      planVersion: 1,
      startAtMs: MARCH,
      nowMs: Date.now(),
    });
    return accountId;
  }

  /** Tenant ids are unique across accounts, as the registry makes them. */
  const tid = (accountId: string, name: string) => `${name}_${accountId}`;

  const calls = (accountId: string, name: string, atMs: number, quantity: bigint) =>
    usage.record({ accountId, tenantId: tid(accountId, name), meterKey: 'api_calls', atMs, quantity });

  const toOwnPlan = (accountId: string, name: string, effectiveAtMs: number, patch = {}) =>
    store.changeTenantBilling(ADMIN, accountId, {
      kind: 'own-plan',
      tenantId: tid(accountId, name),
      planId: ownPlan,
      planVersion: 1,
      effectiveAtMs,
      nowMs: Date.now(),
      ...patch,
    });

  const invoicesOf = async (accountId: string) => store.listInvoices(ADMIN, accountId);
  const usageLine = (invoice: Invoice) => invoice.lines.find((l) => l.kind === 'usage')!;

  it('gives an account with 3 pooled and 2 own-plan tenants 1 + 2 invoices per period', async () => {
    const accountId = await account();
    const pooled = ['p1', 'p2', 'p3'];
    const own = ['o1', 'o2'];
    for (const t of own) await toOwnPlan(accountId, t, MARCH);
    [...pooled, ...own].forEach((t, i) => {
      calls(accountId, t, MARCH + DAY, BigInt(100 * (i + 1)));
      calls(accountId, t, APRIL + DAY, BigInt(10 * (i + 1)));
    });
    await runner.run(ADMIN, MAY + DAY, accountId);
    const invoices = await invoicesOf(accountId);
    const byPeriod = (start: number) => invoices.filter((i) => i.periodStartMs === start);
    for (const [start, scale] of [
      [MARCH, 100n],
      [APRIL, 10n],
    ] as const) {
      const period = byPeriod(start);
      expect(period.map((i) => i.tenantId)).toEqual(
        expect.arrayContaining([null, ...own.map((t) => tid(accountId, t))]),
      );
      expect(period).toHaveLength(3);
      // Pool: 30.00 + (1 + 2 + 3) × scale calls at 0.01; own: 5.00 + (n − 2) calls at 0.10.
      const pool = period.find((i) => i.tenantId === null)!;
      expect(pool.total).toBe(3000n + 6n * scale);
      expect(usageLine(pool).attribution.map((a) => a.tenantId)).toEqual(
        pooled.map((t) => tid(accountId, t)),
      );
      for (const [k, t] of own.entries()) {
        const mine = period.find((i) => i.tenantId === tid(accountId, t))!;
        expect(mine.total).toBe(500n + (BigInt(4 + k) * scale - 2n) * 10n);
        expect(usageLine(mine).attribution.map((a) => a.tenantId)).toEqual([tid(accountId, t)]);
      }
    }
    const again = await runner.run(ADMIN, MAY + DAY, accountId);
    expect(again.accounts[0].invoices.every((i) => i.outcome === 'unchanged')).toBe(true);
    expect(await invoicesOf(accountId)).toHaveLength(6);
  });

  it('splits usage exactly at a mid-period switch instant, and keeps one invoice per subscription and period', async () => {
    const accountId = await account();
    const at = MARCH + 9 * DAY + 12_345;
    calls(accountId, 'a', at - 1, 1n);
    calls(accountId, 'a', at, 10n);
    calls(accountId, 'a', at + 1, 100n);
    calls(accountId, 'b', at, 1000n);
    const { change } = await toOwnPlan(accountId, 'a', at);
    expect(change).toMatchObject({ mode: 'tenant', effectiveFromMs: at });
    const runs = await Promise.all([1, 2, 3].map(() => runner.run(ADMIN, APRIL + DAY, accountId)));
    expect(runs.every((r) => r.failed.length === 0)).toBe(true);
    const invoices = await invoicesOf(accountId);
    expect(invoices).toHaveLength(2);
    const pool = invoices.find((i) => i.tenantId === null)!;
    const own = invoices.find((i) => i.tenantId === tid(accountId, 'a'))!;
    expect(usageLine(pool).pooled).toBe('1001');
    expect(usageLine(own).pooled).toBe('110');
    // The own plan started within its first period: its base fee is prorated from the switch.
    const fee = own.lines.find((l) => l.kind === 'base_fee')!;
    expect(fee).toMatchObject({ fromMs: at, toMs: APRIL });
    expect(fee.amount).toBe(BigInt(Math.round((500 * (APRIL - at)) / (APRIL - MARCH))));
  });

  it('puts usage exactly at a switch on a period boundary in the new mode, and brings the tenant back', async () => {
    const accountId = await account();
    calls(accountId, 'a', APRIL - 1, 1n);
    calls(accountId, 'a', APRIL, 10n);
    calls(accountId, 'a', MAY - 1, 100n);
    calls(accountId, 'a', MAY, 1000n);
    await toOwnPlan(accountId, 'a', APRIL);
    const back = await store.changeTenantBilling(ADMIN, accountId, {
      kind: 'pooled',
      tenantId: tid(accountId, 'a'),
      effectiveAtMs: MAY,
      nowMs: Date.now(),
    });
    expect(back.change).toMatchObject({ mode: 'pooled', effectiveFromMs: MAY });
    await runner.run(ADMIN, AFTER_GRACE, accountId);
    const invoices = await invoicesOf(accountId);
    const pooled = (start: number) => invoices.find((i) => i.tenantId === null && i.periodStartMs === start)!;
    expect(usageLine(pooled(MARCH)).pooled).toBe('1');
    expect(usageLine(pooled(APRIL)).pooled).toBe('0');
    expect(usageLine(pooled(MAY)).pooled).toBe('1000');
    const own = invoices.filter((i) => i.tenantId === tid(accountId, 'a'));
    expect(own.map((i) => [i.periodStartMs, usageLine(i).pooled])).toEqual([[APRIL, '110']]);
    expect(invoices.every((i) => i.status === 'finalized')).toBe(true);
  });

  it('refuses a switch into an invoiced period and a rejoin within the pool period left, naming effectiveAt', async () => {
    const accountId = await account();
    await runner.run(ADMIN, AFTER_GRACE, accountId);
    await expect(toOwnPlan(accountId, 'a', APRIL + DAY)).rejects.toMatchObject({
      code: BillingErrorCode.PERIOD_CLOSED,
      details: [expect.objectContaining({ field: 'effectiveAt' })],
    });
    await toOwnPlan(accountId, 'a', JUNE + DAY);
    await expect(
      store.changeTenantBilling(ADMIN, accountId, {
        kind: 'pooled',
        tenantId: tid(accountId, 'a'),
        effectiveAtMs: JUNE + 2 * DAY,
        nowMs: Date.now(),
      }),
    ).rejects.toMatchObject({ code: BillingErrorCode.POOL_REJOIN_TOO_EARLY });
    expect(await store.tenantSubscriptions(ADMIN, tid(accountId, 'a'))).toHaveLength(1);
  });

  it('announces each change as tenant_subscription.changed through the outbox, by the contract', async () => {
    const accountId = await account();
    const { history } = await toOwnPlan(accountId, 't', APRIL + 5, { anchorDay: 15, timezone: 'Asia/Tokyo' });
    const tenantId = tid(accountId, 't');
    await store.changeTenantBilling(ADMIN, accountId, {
      kind: 'pooled',
      tenantId,
      effectiveAtMs: JUNE,
      nowMs: Date.now(),
    });
    const mine = await owner.query<{ type: string; account_id: string; tenant_id: string; data: object }[]>(
      `SELECT type, account_id, tenant_id, data FROM es_events WHERE stream_id = $1 ORDER BY version`,
      [`tenant-subscription:${tenantId}`],
    );
    expect(mine.every((r) => r.account_id === accountId)).toBe(true);
    expect(mine.map((r) => r.type)).toEqual([TENANT_SUBSCRIPTION_CHANGED, TENANT_SUBSCRIPTION_CHANGED]);
    const [started, ended] = mine.map((r) => validateAs(TenantSubscriptionChangedData, r.data));
    expect(started).toMatchObject({
      ok: true,
      value: {
        tenantId,
        mode: 'tenant',
        effectiveFromMs: APRIL + 5,
        subscriptionId: history[0].id,
        plan: {
          planId: ownPlan,
          anchorDay: 15,
          timezone: 'Asia/Tokyo',
          meters: [{ meterKey: 'api_calls', included: '2' }],
        },
      },
    });
    expect(ended).toMatchObject({ ok: true, value: { mode: 'pooled', effectiveFromMs: JUNE } });
    expect(mine.every((r) => r.tenant_id === tenantId)).toBe(true);
  });

  it('pages an account’s invoices across subscriptions sharing a period, and filters by mode', async () => {
    const accountId = await account();
    for (const t of ['x', 'y']) await toOwnPlan(accountId, t, MARCH);
    await runner.run(ADMIN, APRIL + DAY, accountId);
    const all = await invoicesOf(accountId);
    expect(all).toHaveLength(3);
    const seen: string[] = [];
    let after: { periodStartMs: number; subscriptionId: string } | undefined;
    for (;;) {
      const [next] = await store.listInvoices(ADMIN, accountId, { ...(after ? { after } : {}), limit: 1 });
      if (!next) break;
      seen.push(next.id);
      after = { periodStartMs: next.periodStartMs, subscriptionId: next.subscriptionId };
    }
    expect(seen).toEqual(all.map((i) => i.id));
    expect((await store.listInvoices(ADMIN, accountId, { mode: 'pooled' })).map((i) => i.tenantId)).toEqual([
      null,
    ]);
    expect(
      (await store.listInvoices(ADMIN, accountId, { tenantId: tid(accountId, 'y') })).map((i) => i.tenantId),
    ).toEqual([tid(accountId, 'y')]);
  });
});
