import Stripe from 'stripe';
import { BillingCalendar } from '@metering/billing-math';
import {
  FakeStripe,
  api,
  eventually,
  provisionTenants,
  serviceUrl,
  stackVar,
  startInstance,
  uniqueName,
  type ProvisionedAccount,
  type ServiceInstance,
} from '@metering/testing';

const SECRET_KEY = 'sk_test_e2e';
const WEBHOOK_SECRET = 'whsec_e2e';
const HOUR = 3_600_000;
const anchorDay = Math.min(new Date(Date.now() - 2 * 24 * HOUR).getUTCDate(), 28);
const calendar = new BillingCalendar({ anchorDay, timeZone: 'UTC' });
const last = calendar.previous(calendar.periodAt(Date.now()));

/**
 * A billing instance of its own (own database) with Stripe on, pointed at a local fake of
 * Stripe's API that the real stripe-node SDK talks to.
 */
describe('billing with Stripe', () => {
  const admin = stackVar('ADMIN_KEY');
  const signer = new Stripe('sk_test_signer').webhooks;
  let fake: FakeStripe;
  let billing: ServiceInstance;
  let account: ProvisionedAccount;
  let invoiceId: string;
  let stripeInvoiceId: string;

  const sign = (payload: string, secret = WEBHOOK_SECRET, timestamp = Math.floor(Date.now() / 1000)) =>
    signer.generateTestHeaderString({ payload, secret, timestamp });
  const webhook = async (payload: string, signature: string) => {
    const res = await fetch(`${billing.url}/v1/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': signature },
      body: payload,
    });
    return {
      status: res.status,
      body: (await res.json()) as Record<string, unknown> & { error?: { code: string } },
    };
  };
  const invoiceEvent = (type: Parameters<FakeStripe['invoiceEvent']>[0]) =>
    JSON.stringify(fake.invoiceEvent(type, stripeInvoiceId), null, 2);

  beforeAll(async () => {
    fake = await FakeStripe.start(SECRET_KEY);
    [billing, account] = await Promise.all([
      startInstance('billing', {
        DATABASE_URL: `${stackVar('POSTGRES_URL')}/${uniqueName('billing_stripe')}`,
        BILLING_RUN_INTERVAL_MS: '0',
        STRIPE_SECRET_KEY: SECRET_KEY,
        STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
        STRIPE_API_BASE: fake.url,
      }),
      provisionTenants(1),
    ]);
    const planId = uniqueName('plan').toLowerCase();
    const plan = await api(billing.url, 'POST', '/v1/plans', {
      key: admin,
      body: {
        id: planId,
        name: 'Stripe e2e',
        currency: 'EUR',
        baseFee: '12.34',
        meters: [{ meterKey: 'api_calls', included: '4', overage: { type: 'PER_UNIT', unitPrice: '1.00' } }],
        tenantLimits: {},
        gracePeriodHours: 0,
      },
    });
    expect(plan.status).toBe(201);
    const subscribed = await api(billing.url, 'PUT', `/v1/accounts/${account.accountId}/subscription`, {
      key: admin,
      body: { planId, planVersion: 1, startAt: new Date(last.startMs).toISOString(), anchorDay },
    });
    expect(subscribed.status).toBe(200);
  }, 90_000);

  afterAll(async () => {
    await billing?.stop();
    await fake?.close();
  });

  afterEach(() => {
    expect(fake.problems).toEqual([]);
  });

  it('pushes a finalized invoice to Stripe once, though an item response is lost', async () => {
    fake.dropResponse((r) => r.method === 'POST' && r.path === '/v1/invoiceitems');
    const run = await api(billing.url, 'POST', '/v1/billing-runs', {
      key: admin,
      body: { accountId: account.accountId },
    });
    expect(run.body.accounts[0].invoices).toEqual([expect.objectContaining({ status: 'finalized' })]);
    invoiceId = run.body.accounts[0].invoices[0].invoiceId as string;
    const stripeInvoice = await eventually(
      () =>
        fake
          .list('invoice')
          .find(
            (i) =>
              (i.metadata as Record<string, string>).local_invoice_id === invoiceId && i.status === 'open',
          ),
      { what: 'the Stripe invoice to be finalized' },
    );
    stripeInvoiceId = stripeInvoice.id;
    expect(stripeInvoice).toMatchObject({ currency: 'eur', total: 1234 });
    expect(fake.list('customer')).toHaveLength(1);
    const items = fake.list('invoiceitem');
    expect(items.map((i) => [i.invoice, (i.metadata as Record<string, string>).line_no])).toEqual([
      [stripeInvoiceId, '1'],
      [stripeInvoiceId, '2'],
    ]);
    const first = fake.requests.filter((r) => r.idempotencyKey === `invoice:${invoiceId}:item:1`);
    expect(first.map((r) => [r.dropped, r.replayed])).toEqual([
      [true, false],
      [false, true],
    ]);
  });

  it('rejects webhooks with a wrong secret, a tampered body or a stale timestamp', async () => {
    const payload = invoiceEvent('invoice.payment_failed');
    const stale = Math.floor(Date.now() / 1000) - 10 * 60;
    for (const [body, signature] of [
      [payload, sign(payload, 'whsec_wrong')],
      [payload.replace('"total": 1234', '"total": 1'), sign(payload)],
      [payload, sign(payload, WEBHOOK_SECRET, stale)],
      [payload, 't=1,v1=nothing'],
    ]) {
      const res = await webhook(body, signature);
      expect(res.status).toBe(400);
      expect(res.body.error?.code).toBe('stripe_signature_invalid');
    }
    expect((await api(billing.url, 'GET', `/v1/invoices/${invoiceId}`, { key: admin })).body.status).toBe(
      'finalized',
    );
  });

  it('ends paid however the webhooks are duplicated and reordered', async () => {
    const failed = invoiceEvent('invoice.payment_failed');
    const paid = invoiceEvent('invoice.paid');
    const outcomes = [];
    for (const payload of [paid, paid, failed, paid, failed]) {
      const res = await webhook(payload, sign(payload));
      expect(res.status).toBe(200);
      outcomes.push([res.body.duplicate, res.body.outcome]);
    }
    expect(outcomes).toEqual([
      [false, 'paid'],
      [true, 'paid'],
      [false, 'ignored: invoice is already paid'],
      [true, 'paid'],
      [true, 'ignored: invoice is already paid'],
    ]);
    expect((await api(billing.url, 'GET', `/v1/invoices/${invoiceId}`, { key: admin })).body.status).toBe(
      'paid',
    );
  });

  it('reports no drift once in step, and drift when Stripe differs; platform admins only', async () => {
    const path = `/v1/stripe/reconciliation?accountId=${account.accountId}`;
    expect((await api(billing.url, 'GET', path, { key: admin })).body).toMatchObject({
      checked: 1,
      drift: [],
    });
    fake.patch(stripeInvoiceId, { status: 'open' });
    expect((await api(billing.url, 'GET', path, { key: admin })).body.drift).toEqual([
      expect.objectContaining({ invoiceId, problems: ['status: local paid, Stripe open'] }),
    ]);
    expect((await api(billing.url, 'GET', path, { key: account.ownerKey })).status).toBe(403);
  });

  it('leaves the stack billing (no Stripe key) without the webhook endpoint', async () => {
    const payload = invoiceEvent('invoice.paid');
    const res = await fetch(serviceUrl('billing', '/v1/webhooks/stripe'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': sign(payload) },
      body: payload,
    });
    expect(res.status).toBe(404);
  });
});
