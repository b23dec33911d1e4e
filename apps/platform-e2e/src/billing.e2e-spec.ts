import { Kafka, logLevel } from 'kafkajs';
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
} from '@metering/testing';

const billing = serviceUrl('billing');
const HOUR = 3_600_000;

/** Anchor day of two days ago (at most 28), so the last ended period ended recently. */
const anchorDay = Math.min(new Date(Date.now() - 2 * 24 * HOUR).getUTCDate(), 28);
const calendar = new BillingCalendar({ anchorDay, timeZone: 'UTC' });
const current = calendar.periodAt(Date.now());
const last = calendar.previous(current);

/**
 * Graduated overage above 4 included calls: the first 2 at 1.00, the rest at 0.50. Long grace
 * period, so the scheduled run never finalizes the draft behind the test's back.
 */
const planBody = (id: string, patch: Record<string, unknown> = {}) => ({
  id,
  name: 'E2E growth',
  currency: 'USD',
  baseFee: '10.00',
  meters: [
    {
      meterKey: 'api_calls',
      included: '4',
      overage: { type: 'GRADUATED', tiers: [{ upTo: '2', unitPrice: '1.00' }, { unitPrice: '0.50' }] },
    },
  ],
  tenantLimits: { maxAgents: 3 },
  gracePeriodHours: 35 * 24,
  ...patch,
});

describe('billing', () => {
  const admin = stackVar('ADMIN_KEY');
  let a: ProvisionedAccount;
  let b: ProvisionedAccount;
  let viewerKey: string;
  const planId = uniqueName('plan').toLowerCase();

  beforeAll(async () => {
    [a, b] = await Promise.all([provisionTenants(3), provisionTenants(1)]);
    viewerKey = (
      await api<{ secret: string }>(
        serviceUrl('tenant-registry'),
        'POST',
        `/v1/accounts/${a.accountId}/management-keys`,
        { key: a.ownerKey, body: { role: 'viewer' } },
      )
    ).body.secret;
    const plan = await api(billing, 'POST', '/v1/plans', { key: admin, body: planBody(planId) });
    expect(plan.status).toBe(201);
    // Usage inside the last period (6 : 3 : 1 calls), and one call exactly at its end, which
    // belongs to the current period.
    const inLast = new Date(last.endMs - HOUR).toISOString();
    const counts = [6, 3, 1];
    for (const [i, tenant] of a.tenants.entries()) {
      const events = Array.from({ length: counts[i] }, () => apiCallEvent({ time: inLast }));
      if (i === 0) events.push(apiCallEvent({ time: new Date(last.endMs).toISOString() }));
      expect((await postEvents(serviceUrl('ingestion'), events, tenant.apiKey)).body.accepted).toBe(
        events.length,
      );
    }
    await Promise.all(a.tenants.map((t, i) => untilUsageEvents(t.tenantId, counts[i] + (i === 0 ? 1 : 0))));
  });

  const run = () =>
    api(billing, 'POST', '/v1/billing-runs', {
      key: admin,
      body: { asOf: new Date().toISOString(), accountId: a.accountId },
    });

  describe('plans', () => {
    it('names an unknown meter and an unknown currency', async () => {
      const unknownMeter = await api(billing, 'POST', '/v1/plans', {
        key: admin,
        body: planBody(uniqueName('p'), {
          meters: [
            { meterKey: 'no_such_meter', included: '1', overage: { type: 'PER_UNIT', unitPrice: '1' } },
          ],
        }),
      });
      expect(unknownMeter.status).toBe(400);
      expect(unknownMeter.body.error.details).toEqual([
        { field: 'meters[0].meterKey', reasons: ['unknown meter no_such_meter'] },
      ]);
      const currency = await api(billing, 'POST', '/v1/plans', {
        key: admin,
        body: planBody(uniqueName('p'), { currency: 'XXY' }),
      });
      expect(currency.status).toBe(400);
      expect(currency.body.error.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ field: 'currency' })]),
      );
    });

    it('names a bad tier', async () => {
      const res = await api(billing, 'POST', '/v1/plans', {
        key: admin,
        body: planBody(uniqueName('p'), {
          meters: [
            {
              meterKey: 'api_calls',
              included: '0',
              overage: { type: 'VOLUME', tiers: [{ unitPrice: '1', upTo: '5' }] },
            },
          ],
        }),
      });
      expect(res.body.error.details).toEqual([
        { field: 'meters[0].overage.tiers[0].upTo', reasons: ['the last tier must be open-ended (no upTo)'] },
      ]);
    });

    it('adds versions and lets only platform admins change the catalog', async () => {
      const v2 = await api(billing, 'POST', `/v1/plans/${planId}/versions`, {
        key: admin,
        body: { ...planBody(planId), id: undefined, name: undefined, baseFee: '20.00' },
      });
      expect(v2.body).toMatchObject({ planId, version: 2, baseFee: '20.00' });
      expect((await api(billing, 'GET', `/v1/plans/${planId}`, { key: viewerKey })).body).toMatchObject({
        latestVersion: 2,
        versions: [{ version: 1, baseFee: '10.00' }, { version: 2 }],
      });
      expect(
        (await api(billing, 'POST', '/v1/plans', { key: a.ownerKey, body: planBody(uniqueName('p')) }))
          .status,
      ).toBe(403);
    });
  });

  describe('subscriptions', () => {
    it('refuses a missing plan version, naming the field', async () => {
      const res = await api(billing, 'PUT', `/v1/accounts/${a.accountId}/subscription`, {
        key: a.ownerKey,
        body: { planId, planVersion: 99, startAt: new Date(last.startMs).toISOString(), anchorDay },
      });
      expect(res.status).toBe(404);
      expect(res.body.error).toMatchObject({
        code: 'plan_version_not_found',
        details: [{ field: 'planVersion' }],
      });
    });

    it('subscribes an account from the start of the last period and publishes subscription.changed', async () => {
      const kafka = new Kafka({
        brokers: kafkaBrokers(),
        clientId: 'e2e-billing',
        logLevel: logLevel.NOTHING,
      });
      const consumer = kafka.consumer({ groupId: uniqueName('e2e'), maxWaitTimeInMs: 500 });
      const found: Record<string, unknown>[] = [];
      await consumer.connect();
      await consumer.subscribe({ topic: 'billing.events.v1', fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          const event = JSON.parse(message.value!.toString()) as Record<string, unknown>;
          if (event.accountId === a.accountId) found.push({ ...event, key: message.key?.toString() });
        },
      });
      try {
        const res = await api(billing, 'PUT', `/v1/accounts/${a.accountId}/subscription`, {
          key: a.ownerKey,
          body: { planId, planVersion: 1, startAt: new Date(last.startMs).toISOString(), anchorDay },
        });
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({
          accountId: a.accountId,
          anchorDay,
          timezone: 'UTC',
          currency: 'USD',
        });
        const [event] = await eventually(() => (found.length ? found : undefined), { timeoutMs: 30_000 });
        expect(event).toMatchObject({
          type: 'subscription.changed',
          key: a.accountId,
          source: 'billing',
          actor: { type: 'management-key' },
          data: {
            subscriptionId: res.body.id,
            planId,
            planVersion: 1,
            currency: 'USD',
            anchorDay,
            timezone: 'UTC',
            effectiveFromMs: last.startMs,
            meters: [{ meterKey: 'api_calls', included: '4' }],
            tenantLimits: { maxAgents: 3 },
          },
        });
      } finally {
        await consumer.disconnect();
      }
    });

    it("reaches aggregation's quotas: the plan's included quantities for the current period", async () => {
      const quotas = await eventually(
        async () => {
          const res = await api(serviceUrl('aggregation'), 'GET', `/v1/accounts/${a.accountId}/quotas`, {
            key: viewerKey,
          });
          return res.status === 200 && res.body.planId === planId ? res.body : undefined;
        },
        { timeoutMs: 30_000, what: 'the subscription in aggregation' },
      );
      expect(quotas).toMatchObject({
        planVersion: 1,
        period: { start: new Date(current.startMs).toISOString() },
        meters: [expect.objectContaining({ meter: 'api_calls', included: '4' })],
      });
    });

    it("answers another account's subscription as not found and refuses viewers", async () => {
      const body = { planId, planVersion: 1 };
      expect(
        (await api(billing, 'PUT', `/v1/accounts/${a.accountId}/subscription`, { key: b.ownerKey, body }))
          .status,
      ).toBe(404);
      expect(
        (await api(billing, 'GET', `/v1/accounts/${a.accountId}/subscription`, { key: b.ownerKey })).status,
      ).toBe(404);
      expect(
        (await api(billing, 'PUT', `/v1/accounts/${a.accountId}/subscription`, { key: viewerKey, body }))
          .status,
      ).toBe(403);
    });
  });

  describe('invoices', () => {
    let invoiceId: string;

    it('drafts the ended period: base fee, pooled overage in tiers, attribution to tenants', async () => {
      const res = await run();
      expect(res.status).toBe(200);
      const list = await api(billing, 'GET', `/v1/accounts/${a.accountId}/invoices`, { key: viewerKey });
      expect(list.body.invoices).toHaveLength(1);
      const [invoice] = list.body.invoices;
      invoiceId = invoice.id;
      expect(invoice).toMatchObject({
        status: 'draft',
        currency: 'USD',
        periodStart: new Date(last.startMs).toISOString(),
        periodEnd: new Date(last.endMs).toISOString(),
        total: { minor: 1400, formatted: '14.00' },
      });
      const [base, usage] = invoice.lines;
      expect(base).toMatchObject({ kind: 'base_fee', amount: { minor: 1000, formatted: '10.00' } });
      // 10 pooled, 4 included, 6 over: 2 × 1.00 + 4 × 0.50 = 4.00, split 6 : 3 : 1.
      expect(usage).toMatchObject({
        kind: 'usage',
        meterKey: 'api_calls',
        pooled: '10',
        included: '4',
        overage: '6',
        amount: { minor: 400, formatted: '4.00' },
        tiers: [
          { tier: 0, units: '2', amount: { minor: 200 } },
          { tier: 1, units: '4', amount: { minor: 200 } },
        ],
      });
      const byTenant = Object.fromEntries(
        usage.attribution.map((s: any) => [s.tenantId, [s.quantity, s.amount.minor]]),
      );
      expect(byTenant).toEqual({
        [a.tenants[0].tenantId]: ['6', 240],
        [a.tenants[1].tenantId]: ['3', 120],
        [a.tenants[2].tenantId]: ['1', 40],
      });
    });

    it('keeps one invoice per period however often billing runs', async () => {
      const [again, third] = await Promise.all([run(), run()]);
      for (const r of [again, third]) {
        expect(r.body.accounts[0].invoices).toEqual([
          expect.objectContaining({ invoiceId, outcome: 'unchanged' }),
        ]);
      }
      expect(
        (await api(billing, 'GET', `/v1/accounts/${a.accountId}/invoices`, { key: a.ownerKey })).body
          .invoices,
      ).toHaveLength(1);
    });

    it('pages invoices with a cursor', async () => {
      const path = `/v1/accounts/${a.accountId}/invoices`;
      const first = await api(billing, 'GET', `${path}?limit=1`, { key: viewerKey });
      expect(first.body).toMatchObject({ invoices: [{ id: invoiceId }], nextCursor: String(last.startMs) });
      const next = await api(billing, 'GET', `${path}?limit=1&cursor=${first.body.nextCursor}`, {
        key: viewerKey,
      });
      expect(next.body).toEqual({ invoices: [], nextCursor: null });
    });

    it('previews the current period without storing it', async () => {
      const res = await api(billing, 'GET', `/v1/accounts/${a.accountId}/upcoming-invoice`, {
        key: viewerKey,
      });
      expect(res.body).toMatchObject({
        periodStart: new Date(current.startMs).toISOString(),
        total: { minor: 1000 },
      });
      expect(res.body.lines[1]).toMatchObject({ meterKey: 'api_calls', pooled: '1', overage: '0' });
      expect(
        (await api(billing, 'GET', `/v1/accounts/${a.accountId}/invoices`, { key: viewerKey })).body.invoices,
      ).toHaveLength(1);
    });

    it('exports one CSV row per line and per tenant sub-line', async () => {
      const res = await fetch(`${billing}/v1/accounts/${a.accountId}/invoices.csv`, {
        headers: { authorization: `Bearer ${viewerKey}` },
      });
      expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
      const rows = (await res.text()).trimEnd().split('\r\n');
      expect(rows).toHaveLength(1 + 2 + 3);
      expect(rows[2]).toMatch(/,usage,api_calls,,.*,10,400,4\.00$/);
    });

    it("answers another account's invoices as not found", async () => {
      expect((await api(billing, 'GET', `/v1/invoices/${invoiceId}`, { key: b.ownerKey })).status).toBe(404);
      expect(
        (await api(billing, 'GET', `/v1/accounts/${a.accountId}/invoices`, { key: b.ownerKey })).status,
      ).toBe(404);
      expect(
        (await api(billing, 'POST', `/v1/invoices/${invoiceId}/finalize`, { key: b.ownerKey })).status,
      ).toBe(404);
    });

    it('lets a viewer read but not finalize or void', async () => {
      expect((await api(billing, 'GET', `/v1/invoices/${invoiceId}`, { key: viewerKey })).status).toBe(200);
      expect(
        (await api(billing, 'POST', `/v1/invoices/${invoiceId}/finalize`, { key: viewerKey })).status,
      ).toBe(403);
      const voided = await api(billing, 'POST', `/v1/invoices/${invoiceId}/void`, {
        key: viewerKey,
        body: { reason: 'x' },
      });
      expect(voided.status).toBe(403);
    });

    it('finalizes once, and later runs leave it alone', async () => {
      const finalized = await api(billing, 'POST', `/v1/invoices/${invoiceId}/finalize`, { key: a.ownerKey });
      expect(finalized.body).toMatchObject({ status: 'finalized', total: { minor: 1400 } });
      expect(
        (await api(billing, 'POST', `/v1/invoices/${invoiceId}/finalize`, { key: a.ownerKey })).status,
      ).toBe(409);
      expect((await run()).body.accounts[0].invoices).toEqual([]);
    });

    it('bills late usage of a finalized period as an adjustment line on the next invoice', async () => {
      const late = a.tenants[2];
      const event = apiCallEvent({ time: new Date(last.endMs - HOUR).toISOString() });
      expect((await postEvents(serviceUrl('ingestion'), [event], late.apiKey)).body.accepted).toBe(1);
      await untilUsageEvents(late.tenantId, 2);
      const upcoming = await api(billing, 'GET', `/v1/accounts/${a.accountId}/upcoming-invoice`, {
        key: viewerKey,
      });
      // 11 pooled: 2 × 1.00 + 5 × 0.50 = 4.50, invoiced 4.00 → 0.50, all the late tenant's.
      expect(upcoming.body.lines[2]).toMatchObject({
        kind: 'adjustment',
        meterKey: 'api_calls',
        pooled: '1',
        amount: { minor: 50 },
        adjusts: { invoiceId, invoicedPooled: '10', currentPooled: '11' },
        attribution: expect.arrayContaining([
          { tenantId: late.tenantId, quantity: '1', amount: { minor: 50, formatted: '0.50' } },
        ]),
      });
      expect(upcoming.body.total).toMatchObject({ minor: 1050 });
      expect(
        (await api(billing, 'GET', `/v1/invoices/${invoiceId}`, { key: viewerKey })).body.total.minor,
      ).toBe(1400);
    });

    it('voids a finalized invoice once, with its reason', async () => {
      const voided = await api(billing, 'POST', `/v1/invoices/${invoiceId}/void`, {
        key: a.ownerKey,
        body: { reason: 'duplicate' },
      });
      expect(voided.body).toMatchObject({ status: 'void', voidReason: 'duplicate', total: { minor: 1400 } });
      const again = await api(billing, 'POST', `/v1/invoices/${invoiceId}/void`, {
        key: a.ownerKey,
        body: { reason: 'again' },
      });
      expect(again.status).toBe(409);
    });

    it('refuses a billing run in the future or from an account role', async () => {
      const future = await api(billing, 'POST', '/v1/billing-runs', {
        key: admin,
        body: { asOf: new Date(Date.now() + 24 * HOUR).toISOString() },
      });
      expect(future.status).toBe(400);
      expect(future.body.error.details).toEqual([{ field: 'asOf', reasons: ['must not be in the future'] }]);
      expect((await api(billing, 'POST', '/v1/billing-runs', { key: a.ownerKey, body: {} })).status).toBe(
        403,
      );
    });
  });
});
