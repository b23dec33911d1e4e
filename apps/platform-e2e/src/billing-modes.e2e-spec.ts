import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { BillingCalendar } from '@metering/billing-math';
import {
  api,
  apiCallEvent,
  eventually,
  kafkaBrokers,
  postEvents,
  provisionTenants,
  serviceUrl,
  stackVar,
  uniqueName,
  untilUsageEvents,
  type ProvisionedAccount,
  type InvoiceBody,
} from '@metering/testing';

const billing = serviceUrl('billing');
const aggregation = serviceUrl('aggregation');
const ingestion = serviceUrl('ingestion');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Anchor day of two days ago (at most 28), so the last ended period ended recently. */
const anchorDay = Math.min(new Date(Date.now() - 2 * DAY).getUTCDate(), 28);
const calendar = new BillingCalendar({ anchorDay, timeZone: 'UTC' });
const current = calendar.periodAt(Date.now());
const last = calendar.previous(current);
const iso = (ms: number) => new Date(ms).toISOString();

/** Pool: 10.00 a month, 4 calls included, 0.50 a call beyond. Long grace: drafts stay drafts. */
const poolPlan = (id: string) => ({
  id,
  name: 'E2E pool',
  currency: 'USD',
  baseFee: '10.00',
  meters: [{ meterKey: 'api_calls', included: '4', overage: { type: 'PER_UNIT', unitPrice: '0.50' } }],
  tenantLimits: {},
  gracePeriodHours: 35 * 24,
});

/** A tenant's own plan: 3.00 a month, 1 call included, 0.25 a call beyond. */
const ownPlan = (id: string, patch: Record<string, unknown> = {}) => ({
  id,
  name: 'E2E own',
  currency: 'USD',
  baseFee: '3.00',
  meters: [
    { meterKey: 'api_calls', included: '1', overage: { type: 'PER_UNIT', unitPrice: '0.25' }, ...patch },
  ],
  tenantLimits: {},
  gracePeriodHours: 35 * 24,
});

/** The amount of `count` calls over `included` at `unitMinor` each, in minor units. */
const overage = (count: number, included: number, unitMinor: number) =>
  Math.max(0, count - included) * unitMinor;

describe('billing modes', () => {
  const admin = stackVar('ADMIN_KEY');
  const poolPlanId = uniqueName('plan-pool').toLowerCase();
  const ownPlanId = uniqueName('plan-own').toLowerCase();
  const cappedPlanId = uniqueName('plan-capped').toLowerCase();

  beforeAll(async () => {
    for (const body of [
      poolPlan(poolPlanId),
      ownPlan(ownPlanId),
      ownPlan(cappedPlanId, { included: '5', hardCap: '8' }),
    ]) {
      expect((await api(billing, 'POST', '/v1/plans', { key: admin, body })).status).toBe(201);
    }
  });

  async function subscribe(account: ProvisionedAccount, startAtMs = last.startMs): Promise<void> {
    const res = await api(billing, 'PUT', `/v1/accounts/${account.accountId}/subscription`, {
      key: account.ownerKey,
      body: { planId: poolPlanId, planVersion: 1, startAt: iso(startAtMs), anchorDay },
    });
    expect(res.status).toBe(200);
  }

  const putTenant = (account: ProvisionedAccount, tenantId: string, body: Record<string, unknown>) =>
    api(billing, 'PUT', `/v1/tenants/${tenantId}/subscription`, { key: account.ownerKey, body });

  /** `count` calls of the tenant, all at `atMs`. */
  async function callsAt(tenant: { apiKey: string }, atMs: number, count: number): Promise<void> {
    const events = Array.from({ length: count }, () => apiCallEvent({ time: iso(atMs) }));
    expect((await postEvents(ingestion, events, tenant.apiKey)).body.accepted).toBe(count);
  }

  const run = (account: ProvisionedAccount) =>
    api(billing, 'POST', '/v1/billing-runs', {
      key: admin,
      body: { asOf: iso(Date.now()), accountId: account.accountId },
    });

  const invoices = async (account: ProvisionedAccount, query = ''): Promise<InvoiceBody[]> =>
    (
      await api(billing, 'GET', `/v1/accounts/${account.accountId}/invoices${query}`, {
        key: account.ownerKey,
      })
    ).body.invoices;

  const usageLine = (invoice: InvoiceBody) => invoice.lines.find((l) => l.kind === 'usage')!;

  describe('an account with 3 pooled tenants and 2 on their own plans', () => {
    let account: ProvisionedAccount;
    const counts = [6, 3, 2, 5, 7];

    beforeAll(async () => {
      account = await provisionTenants(5);
      await subscribe(account);
      const [, , , d, e] = account.tenants;
      // d on the account's calendar; e on its own time zone, from its own period's start.
      expect(
        (
          await putTenant(account, d.tenantId, {
            planId: ownPlanId,
            planVersion: 1,
            effectiveAt: iso(last.startMs),
          })
        ).status,
      ).toBe(200);
      const tokyo = new BillingCalendar({ anchorDay, timeZone: 'Asia/Tokyo' }).periodAt(last.startMs + DAY);
      const own = await putTenant(account, e.tenantId, {
        planId: ownPlanId,
        planVersion: 1,
        timezone: 'Asia/Tokyo',
        stripeCustomer: 'tenant',
        effectiveAt: iso(tokyo.startMs),
      });
      expect(own.status).toBe(200);
      expect(own.body).toMatchObject({
        tenantId: e.tenantId,
        mode: 'tenant',
        subscription: {
          timezone: 'Asia/Tokyo',
          anchorDay,
          stripeCustomer: 'tenant',
          startAt: iso(tokyo.startMs),
        },
      });
      // Inside the last period of the pool and of both own calendars.
      for (const [i, t] of account.tenants.entries()) await callsAt(t, last.endMs - 12 * HOUR, counts[i]);
      await Promise.all(account.tenants.map((t, i) => untilUsageEvents(t.tenantId, counts[i])));
      expect((await run(account)).status).toBe(200);
    });

    it('gets one pooled invoice and one invoice per own-plan tenant for the period, with totals computed here', async () => {
      const list = await invoices(account);
      expect(list).toHaveLength(3);
      const [a, b, c, d, e] = account.tenants;
      const pool = list.find((i) => i.mode === 'pooled')!;
      // 10.00 + (6 + 3 + 2 − 4) × 0.50; own plans: 3.00 + (n − 1) × 0.25.
      expect(pool).toMatchObject({
        tenantId: null,
        periodStart: iso(last.startMs),
        total: { minor: 1000 + overage(11, 4, 50) },
      });
      expect(usageLine(pool).pooled).toBe('11');
      expect(
        usageLine(pool)
          .attribution.map((s) => s.tenantId)
          .sort(),
      ).toEqual([a, b, c].map((t) => t.tenantId).sort());
      for (const [tenant, n] of [
        [d, counts[3]],
        [e, counts[4]],
      ] as const) {
        const own = list.find((i) => i.tenantId === tenant.tenantId)!;
        expect(own).toMatchObject({
          mode: 'tenant',
          status: 'draft',
          total: { minor: 300 + overage(n, 1, 25) },
        });
        expect(usageLine(own).attribution).toEqual([
          expect.objectContaining({ tenantId: tenant.tenantId, quantity: String(n) }),
        ]);
      }
    });

    it('keeps one invoice per subscription and period however often billing runs', async () => {
      const runs = await Promise.all([run(account), run(account)]);
      for (const r of runs) {
        expect(r.body.accounts[0].invoices.map((i: { outcome: string }) => i.outcome)).toEqual([
          'unchanged',
          'unchanged',
          'unchanged',
        ]);
      }
      expect(await invoices(account)).toHaveLength(3);
    });

    it('shows the mode in the list filter, the detail and the CSV export', async () => {
      expect((await invoices(account, '?mode=pooled')).map((i) => i.mode)).toEqual(['pooled']);
      expect(await invoices(account, '?mode=tenant')).toHaveLength(2);
      const one = (await invoices(account, `?tenantId=${account.tenants[4].tenantId}`))[0];
      const detail = await api(billing, 'GET', `/v1/invoices/${one.id}`, { key: account.ownerKey });
      expect(detail.body).toMatchObject({ mode: 'tenant', tenantId: account.tenants[4].tenantId });
      const res = await fetch(`${billing}/v1/accounts/${account.accountId}/invoices.csv`, {
        headers: { authorization: `Bearer ${account.ownerKey}` },
      });
      const [header, ...rows] = (await res.text()).trimEnd().split('\r\n');
      expect(header.split(',').slice(0, 4)).toEqual([
        'invoice_id',
        'account_id',
        'mode',
        'invoice_tenant_id',
      ]);
      const modes = new Set(rows.map((r) => r.split(',').slice(2, 4).join(':')));
      expect(modes).toEqual(
        new Set([
          'pooled:',
          `tenant:${account.tenants[3].tenantId}`,
          `tenant:${account.tenants[4].tenantId}`,
        ]),
      );
    });

    it('pages invoices that share a period one by one', async () => {
      const seen: string[] = [];
      let cursor = '';
      for (let i = 0; i < 5; i++) {
        const page = await api(
          billing,
          'GET',
          `/v1/accounts/${account.accountId}/invoices?limit=1${cursor}`,
          {
            key: account.ownerKey,
          },
        );
        seen.push(...page.body.invoices.map((x: InvoiceBody) => x.id));
        if (!page.body.nextCursor) break;
        cursor = `&cursor=${page.body.nextCursor}`;
      }
      expect(seen).toEqual((await invoices(account)).map((i) => i.id));
      expect(new Set(seen).size).toBe(3);
    });
  });

  describe('a switch within a period', () => {
    let account: ProvisionedAccount;
    const switchAt = last.startMs + 5 * DAY + 12_345;

    beforeAll(async () => {
      account = await provisionTenants(2);
      await subscribe(account);
      const [a, b] = account.tenants;
      await callsAt(b, switchAt - 1, 1);
      await callsAt(b, switchAt, 2);
      await callsAt(b, switchAt + 1, 4);
      await callsAt(a, switchAt + 1, 3);
      await Promise.all([untilUsageEvents(a.tenantId, 3), untilUsageEvents(b.tenantId, 7)]);
      const res = await putTenant(account, b.tenantId, {
        planId: ownPlanId,
        planVersion: 1,
        effectiveAt: iso(switchAt),
      });
      expect(res.status).toBe(200);
      expect(res.body.history).toEqual([
        { mode: 'pooled', from: null, to: iso(switchAt) },
        { mode: 'tenant', from: iso(switchAt), to: null, subscriptionId: res.body.subscription.id },
      ]);
      expect((await run(account)).status).toBe(200);
    });

    it('bills usage before the switch instant in the pool and from it on to the own plan', async () => {
      const [a, b] = account.tenants;
      const list = await invoices(account);
      expect(list).toHaveLength(2);
      const pool = list.find((i) => i.mode === 'pooled')!;
      const own = list.find((i) => i.mode === 'tenant')!;
      const parts = Object.fromEntries(usageLine(pool).attribution.map((s) => [s.tenantId, s.quantity]));
      expect(usageLine(pool).pooled).toBe('4');
      expect(parts).toEqual({ [a.tenantId]: '3', [b.tenantId]: '1' });
      expect(pool.total.minor).toBe(1000 + overage(4, 4, 50));
      expect(usageLine(own).pooled).toBe('6');
      // The own plan's base fee covers the rest of its period from the switch on.
      const fee = Math.round((300 * (last.endMs - switchAt)) / (last.endMs - last.startMs));
      expect(own.lines[0]).toMatchObject({ kind: 'base_fee', from: iso(switchAt), amount: { minor: fee } });
      expect(own.total.minor).toBe(fee + overage(6, 1, 25));
    });

    it('refuses a rejoin within the pool period the tenant left, and an end before its invoiced part', async () => {
      const [, b] = account.tenants;
      const back = await api(
        billing,
        'DELETE',
        `/v1/tenants/${b.tenantId}/subscription?effectiveAt=${iso(switchAt + HOUR)}`,
        {
          key: account.ownerKey,
        },
      );
      expect(back.status).toBe(409);
      expect(back.body.error).toMatchObject({
        code: 'pool_rejoin_too_early',
        details: [{ field: 'effectiveAt' }],
      });
      const early = await putTenant(account, b.tenantId, {
        mode: 'pooled',
        effectiveAt: iso(switchAt - HOUR),
      });
      expect(early.status).toBe(409);
      expect(
        (await api(billing, 'GET', `/v1/tenants/${b.tenantId}/subscription`, { key: account.ownerKey })).body,
      ).toMatchObject({
        mode: 'tenant',
        subscription: { endAt: null },
      });
    });
  });

  describe('a switch exactly at a period boundary', () => {
    let account: ProvisionedAccount;

    beforeAll(async () => {
      account = await provisionTenants(2);
      await subscribe(account);
      const [a, c] = account.tenants;
      await callsAt(c, current.startMs - 1, 1);
      await callsAt(c, current.startMs, 2);
      await callsAt(a, current.startMs, 5);
      await Promise.all([untilUsageEvents(a.tenantId, 5), untilUsageEvents(c.tenantId, 3)]);
      expect(
        (
          await putTenant(account, c.tenantId, {
            planId: ownPlanId,
            planVersion: 1,
            effectiveAt: iso(current.startMs),
          })
        ).status,
      ).toBe(200);
      expect((await run(account)).status).toBe(200);
    });

    it('leaves the last millisecond before it in the ended pool period and the instant itself to the own plan', async () => {
      const [a, c] = account.tenants;
      const [ended] = await invoices(account);
      expect(ended).toMatchObject({ mode: 'pooled', periodStart: iso(last.startMs) });
      expect(usageLine(ended).attribution).toEqual([
        expect.objectContaining({ tenantId: c.tenantId, quantity: '1' }),
      ]);
      const pool = await api(billing, 'GET', `/v1/accounts/${account.accountId}/upcoming-invoice`, {
        key: account.ownerKey,
      });
      expect(pool.body).toMatchObject({ mode: 'pooled', periodStart: iso(current.startMs) });
      expect(usageLine(pool.body).attribution).toEqual([
        expect.objectContaining({ tenantId: a.tenantId, quantity: '5' }),
      ]);
      const own = await api(billing, 'GET', `/v1/tenants/${c.tenantId}/upcoming-invoice`, {
        key: account.ownerKey,
      });
      expect(own.body).toMatchObject({
        mode: 'tenant',
        tenantId: c.tenantId,
        periodStart: iso(current.startMs),
      });
      expect(usageLine(own.body).pooled).toBe('2');
      // The own plan started with its period: no invoice of it has ended yet.
      expect(await invoices(account, '?mode=tenant')).toEqual([]);
    });
  });

  describe('quotas and entitlements', () => {
    const kafka = new Kafka({
      brokers: kafkaBrokers(),
      clientId: 'e2e-billing-modes',
      logLevel: logLevel.NOTHING,
    });
    let consumer: Consumer;
    const crossings: {
      accountId: string;
      tenantId?: string;
      data: { scope: string; key: string; threshold: number };
    }[] = [];
    let account: ProvisionedAccount;

    beforeAll(async () => {
      consumer = kafka.consumer({ groupId: uniqueName('e2e-modes-quota'), maxWaitTimeInMs: 200 });
      await consumer.connect();
      await consumer.subscribe({ topics: ['quota.events.v1'], fromBeginning: true });
      await consumer.run({
        eachMessage: ({ message }) => {
          try {
            crossings.push(JSON.parse(message.value?.toString() ?? '') as (typeof crossings)[number]);
          } catch {
            // other tests put poison messages on the topic
          }
          return Promise.resolve();
        },
      });
      account = await provisionTenants(2);
      await subscribe(account);
      const [, o] = account.tenants;
      expect(
        (
          await putTenant(account, o.tenantId, {
            planId: cappedPlanId,
            planVersion: 1,
            effectiveAt: iso(current.startMs),
          })
        ).status,
      ).toBe(200);
      await eventually(
        async () => {
          const res = await api(aggregation, 'GET', `/v1/tenants/${o.tenantId}/quotas`, {
            key: account.ownerKey,
          });
          return res.status === 200 ? true : undefined;
        },
        { timeoutMs: 30_000, what: "the tenant's own plan known to aggregation" },
      );
    });

    afterAll(() => consumer.disconnect());

    it('counts only pooled tenants toward the pool and checks an own-plan tenant against its own plan', async () => {
      const [p, o] = account.tenants;
      // 2 of the pool's 4 included calls: no crossing, unless the own-plan tenant's 7 counted too.
      await callsAt(p, Date.now(), 2);
      await callsAt(o, Date.now(), 7);
      const pool = await eventually(
        async () => {
          const res = await api(aggregation, 'GET', `/v1/accounts/${account.accountId}/quotas`, {
            key: account.ownerKey,
          });
          const calls = res.body.meters?.find((m: { meter: string }) => m.meter === 'api_calls');
          return calls?.used === '2' ? res.body : undefined;
        },
        { timeoutMs: 30_000, what: "the pool's 2 calls" },
      );
      expect(pool).toMatchObject({ mode: 'pooled', planId: poolPlanId });
      expect(pool.meters[0].tenants.map((t: { tenantId: string }) => t.tenantId)).toEqual([p.tenantId]);
      const own = await eventually(
        async () => {
          const res = await api(aggregation, 'GET', `/v1/tenants/${o.tenantId}/quotas`, {
            key: account.ownerKey,
          });
          return res.body.meters?.[0]?.used === '7' ? res.body : undefined;
        },
        { timeoutMs: 30_000, what: "the own plan's 7 calls" },
      );
      expect(own).toMatchObject({
        mode: 'tenant',
        tenantId: o.tenantId,
        planId: cappedPlanId,
        meters: [{ meter: 'api_calls', included: '5', used: '7', overage: '2' }],
      });
      const check = async (tenantId: string) =>
        (
          await api(aggregation, 'POST', '/v1/entitlements/check', {
            key: account.ownerKey,
            body: { tenantId, key: 'api_calls', quantity: 2 },
          })
        ).body;
      const ownCheck = await eventually(async () => {
        const body = await check(o.tenantId);
        return body.used === '7' ? body : undefined;
      });
      expect(ownCheck).toMatchObject({ allowed: false, reason: 'hard_cap_reached', allowance: '8' });
      const pooledCheck = await eventually(async () => {
        const body = await check(p.tenantId);
        return body.used === '2' ? body : undefined;
      });
      expect(pooledCheck).toMatchObject({
        allowed: true,
        reason: 'within_quota',
        allowance: '4',
        remaining: '2',
      });
    });

    it("announces the own plan's crossings for the tenant and none for the pool it left", async () => {
      const [, o] = account.tenants;
      const mine = () => crossings.filter((c) => c.accountId === account.accountId);
      await eventually(
        () => (mine().filter((c) => c.tenantId === o.tenantId).length === 2 ? true : undefined),
        { timeoutMs: 30_000, what: "the own plan's 80 % and 100 % crossings" },
      );
      expect(
        mine()
          .map((c) => [c.tenantId, c.data.scope, c.data.key, c.data.threshold])
          .sort(),
      ).toEqual([
        [o.tenantId, 'pool', 'api_calls', 100],
        [o.tenantId, 'pool', 'api_calls', 80],
      ]);
    });
  });

  describe('bad input', () => {
    let account: ProvisionedAccount;
    let other: ProvisionedAccount;

    beforeAll(async () => {
      [account, other] = await Promise.all([provisionTenants(1), provisionTenants(1)]);
    });

    it('names a missing plan version, an unknown plan version and a bad instant', async () => {
      const tenantId = account.tenants[0].tenantId;
      const missing = await putTenant(account, tenantId, { planId: ownPlanId });
      expect(missing.status).toBe(400);
      expect(missing.body.error.details).toEqual([expect.objectContaining({ field: 'planVersion' })]);
      const unknown = await putTenant(account, tenantId, { planId: ownPlanId, planVersion: 99 });
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.details).toEqual([expect.objectContaining({ field: 'planVersion' })]);
      const instant = await putTenant(account, tenantId, {
        planId: ownPlanId,
        planVersion: 1,
        effectiveAt: 'yesterday',
      });
      expect(instant.status).toBe(400);
      expect(instant.body.error.details).toEqual([expect.objectContaining({ field: 'effectiveAt' })]);
      const mode = await putTenant(account, tenantId, { mode: 'solo' });
      expect(mode.body.error.details).toEqual([expect.objectContaining({ field: 'mode' })]);
      expect(
        (await api(billing, 'GET', `/v1/tenants/${tenantId}/subscription`, { key: account.ownerKey })).body,
      ).toMatchObject({
        mode: 'pooled',
        subscription: null,
        history: [{ mode: 'pooled', from: null, to: null }],
      });
    });

    it("answers another account's tenant and an unknown tenant as not found", async () => {
      const body = { planId: ownPlanId, planVersion: 1 };
      expect((await putTenant(other, account.tenants[0].tenantId, body)).status).toBe(404);
      expect(
        (
          await api(billing, 'GET', `/v1/tenants/${account.tenants[0].tenantId}/subscription`, {
            key: other.ownerKey,
          })
        ).status,
      ).toBe(404);
      expect((await putTenant(account, 'ten_doesnotexist', body)).status).toBe(404);
    });
  });
});
