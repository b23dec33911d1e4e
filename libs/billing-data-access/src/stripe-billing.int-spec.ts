import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import type { DataSource } from 'typeorm';
import { BillingError, type MeterPeriodUsage } from '@metering/billing-domain';
import { FakeStripe, stackVar } from '@metering/testing';
import { BillingRunner } from './billing-run';
import type { BillingStore } from './billing.store';
import { StripeBilling, createStripeClient } from './stripe-billing';
import { ADMIN, openBillingDatabase } from './test-support/database';
import { apiCalls, summedMeters } from './test-support/usage';

const SECRET_KEY = 'sk_test_int';
const WEBHOOK_SECRET = 'whsec_int';
const now = new Date();
const PERIOD_START = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1);
/** After the grace period of the previous UTC month (72 hours), so runs finalize it. */
const AFTER_GRACE = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1) + 73 * 3_600_000;
const HOUR_LATER = () => Date.now() + 3_600_000;

describe(StripeBilling.name, () => {
  let owner: DataSource;
  let close: () => Promise<void>;
  let store: BillingStore;
  let runner: BillingRunner;
  let fake: FakeStripe;
  let stripe: StripeBilling;
  let planId: string;
  const usage = new Map<string, MeterPeriodUsage[]>();
  const signer = new Stripe('sk_test_signer').webhooks;

  const billingWith = (retries: number) =>
    new StripeBilling(
      store,
      createStripeClient({ secretKey: SECRET_KEY, apiBase: fake.url, maxNetworkRetries: retries }),
      { webhookSecret: WEBHOOK_SECRET, baseBackoffMs: 60_000 },
    );

  beforeAll(async () => {
    ({ owner, store, close } = await openBillingDatabase(stackVar('POSTGRES_URL'), 'it_billing_stripe', {
      stripeSync: true,
    }));
    runner = new BillingRunner(store, {
      periodUsage: (request) => Promise.resolve(usage.get(request.accountId) ?? []),
      meterKinds: summedMeters,
    });
    fake = await FakeStripe.start(SECRET_KEY);
    stripe = billingWith(2);
    planId = (
      await store.createPlan(ADMIN, {
        name: 'Growth',
        spec: {
          currency: 'USD',
          interval: 'month',
          baseFee: '30.00',
          meters: [
            { meterKey: 'api_calls', included: '100', overage: { type: 'PER_UNIT', unitPrice: '0.01' } },
          ],
          tenantLimits: {},
          gracePeriodHours: 72,
        },
      })
    ).id;
  });

  afterAll(async () => {
    await fake.close();
    await close();
  });

  afterEach(() => {
    expect(fake.problems).toEqual([]);
  });

  /** A new account subscribed from the start of last month. */
  async function subscribedAccount(): Promise<string> {
    const accountId = `acc_${randomUUID().slice(0, 8)}`;
    await store.subscribe(ADMIN, {
      accountId,
      planId,
      planVersion: 1,
      startAtMs: PERIOD_START,
      nowMs: Date.now(),
    });
    return accountId;
  }

  /** A new account with last month's invoice finalized (30.00 + 150 × 0.01 over 250 calls). */
  async function finalizedInvoice(): Promise<{ accountId: string; invoiceId: string }> {
    const accountId = await subscribedAccount();
    usage.set(accountId, apiCalls({ t1: 200n, t2: 50n }));
    const run = await runner.run(ADMIN, AFTER_GRACE, accountId);
    const [invoice] = run.accounts[0].invoices;
    expect(invoice.status).toBe('finalized');
    return { accountId, invoiceId: invoice.invoiceId };
  }

  /** Syncs until the invoice is done (other tests' invoices may be due too). */
  async function syncUntilDone(billing: StripeBilling, invoiceId: string, nowMs = Date.now()) {
    const results = await billing.syncDue(nowMs, 100);
    return results.find((r) => r.invoiceId === invoiceId);
  }

  const outboxCount = async (type: string, invoiceId: string) =>
    (
      await owner.query<{ n: string }[]>(
        `SELECT count(*) AS n FROM es_outbox WHERE payload->>'type' = $1 AND payload->'data'->>'invoiceId' = $2`,
        [type, invoiceId],
      )
    )[0].n;

  it('pushes a finalized invoice: customer, invoice, an item per line, finalize, each with its key', async () => {
    const { accountId, invoiceId } = await finalizedInvoice();
    const result = await syncUntilDone(stripe, invoiceId);
    expect(result).toMatchObject({ step: 'done' });
    const mine = fake.requests.filter(
      (r) => r.idempotencyKey?.includes(invoiceId) || r.idempotencyKey === `customer:${accountId}`,
    );
    expect(mine.map((r) => [r.method, r.path.replace(/_fake\d+/, '_*'), r.idempotencyKey])).toEqual([
      ['POST', '/v1/customers', `customer:${accountId}`],
      ['POST', '/v1/invoices', `invoice:${invoiceId}:create`],
      ['POST', '/v1/invoiceitems', `invoice:${invoiceId}:item:1`],
      ['POST', '/v1/invoiceitems', `invoice:${invoiceId}:item:2`],
      ['POST', '/v1/invoices/in_*/finalize', `invoice:${invoiceId}:finalize`],
    ]);
    expect(mine[3].params).toMatchObject({
      amount: '150',
      currency: 'usd',
      invoice: result!.stripeInvoiceId,
      metadata: { local_invoice_id: invoiceId, meter_key: 'api_calls', attribution_0: 't1=120;t2=30' },
    });
    expect(fake.get(result!.stripeInvoiceId!)).toMatchObject({ status: 'open', total: 3150 });
    expect(await stripe.customerOf(accountId)).toBe(
      mine[0].idempotencyKey && fake.list('customer').at(-1)!.id,
    );
    expect(await stripe.reconcile(ADMIN, { accountId })).toMatchObject({ checked: 1, drift: [] });
  });

  it("sends a tenant's own invoices to its own customer or to the account's, as chosen", async () => {
    const accountId = await subscribedAccount();
    usage.set(accountId, apiCalls({ t1: 10n }));
    const apart = `own_${accountId}`;
    const together = `shared_${accountId}`;
    for (const [tenantId, stripeCustomer] of [
      [apart, 'tenant'],
      [together, 'account'],
    ] as const) {
      await store.changeTenantBilling(ADMIN, accountId, {
        kind: 'own-plan',
        tenantId,
        planId,
        planVersion: 1,
        stripeCustomer,
        effectiveAtMs: PERIOD_START,
        nowMs: Date.now(),
      });
    }
    const run = await runner.run(ADMIN, AFTER_GRACE, accountId);
    const invoices = run.accounts[0].invoices;
    expect(invoices.map((i) => [i.mode, i.tenantId, i.status])).toEqual([
      ['pooled', undefined, 'finalized'],
      ['tenant', apart, 'finalized'],
      ['tenant', together, 'finalized'],
    ]);
    const results = await stripe.syncDue(Date.now(), 100);
    const synced = new Map<string | undefined, string>();
    for (const invoice of invoices) {
      const result = results.find((r) => r.invoiceId === invoice.invoiceId);
      expect(result).toMatchObject({ step: 'done' });
      synced.set(invoice.tenantId, result!.stripeInvoiceId!);
    }
    const accountCustomer = await stripe.customerOf(accountId);
    const tenantCustomer = await stripe.tenantCustomerOf(accountId, apart);
    expect(tenantCustomer).toBeDefined();
    expect(tenantCustomer).not.toBe(accountCustomer);
    expect(fake.get(synced.get(undefined)!)).toMatchObject({ customer: accountCustomer });
    expect(fake.get(synced.get(together)!)).toMatchObject({
      customer: accountCustomer,
      metadata: { billing_mode: 'tenant', billed_tenant_id: together },
    });
    expect(fake.get(synced.get(apart)!)).toMatchObject({ customer: tenantCustomer });
    expect(
      fake.requests
        .filter((r) => r.path === '/v1/customers' && r.idempotencyKey?.includes(accountId))
        .map((r) => r.idempotencyKey)
        .sort(),
    ).toEqual([`customer:${accountId}`, `customer:${accountId}:tenant:${apart}`]);
  });

  it('leaves one Stripe invoice when its creation answer is lost and the SDK retries', async () => {
    const { invoiceId } = await finalizedInvoice();
    const key = `invoice:${invoiceId}:create`;
    fake.dropResponse((r) => r.idempotencyKey === key);
    expect(await syncUntilDone(stripe, invoiceId)).toMatchObject({ step: 'done' });
    const creates = fake.requests.filter((r) => r.idempotencyKey === key);
    expect(creates.map((r) => [r.dropped, r.replayed])).toEqual([
      [true, false],
      [false, true],
    ]);
    expect(
      fake
        .list('invoice')
        .filter((i) => (i.metadata as Record<string, string>).local_invoice_id === invoiceId),
    ).toHaveLength(1);
  });

  it('resumes after a failed attempt at the step it was on and bills each line once', async () => {
    const { invoiceId } = await finalizedInvoice();
    const key = `invoice:${invoiceId}:item:2`;
    // Lost twice: the SDK without retries tries a closed connection once more, then gives up.
    fake.dropResponse((r) => r.idempotencyKey === key, 2);
    const failed = await syncUntilDone(billingWith(0), invoiceId);
    expect(failed).toMatchObject({ step: 'items' });
    expect(failed!.error).toBeDefined();
    expect(await stripe.syncState(ADMIN, invoiceId)).toMatchObject({ items_synced: 1, attempts: 1 });
    // Backed off: not due now; a fresh worker (as after a restart) picks it up when due.
    expect(await syncUntilDone(stripe, invoiceId)).toBeUndefined();
    expect(await syncUntilDone(billingWith(2), invoiceId, HOUR_LATER())).toMatchObject({ step: 'done' });
    const items = fake.list('invoiceitem').filter((i) => i.invoice === failed!.stripeInvoiceId);
    expect(items.map((i) => (i.metadata as Record<string, string>).line_no)).toEqual(['1', '2']);
    // Applied once; the SDK's own second try and the worker's retry were answered from the key.
    expect(fake.requests.filter((r) => r.idempotencyKey === key).map((r) => [r.dropped, r.replayed])).toEqual(
      [
        [true, false],
        [true, true],
        [false, true],
      ],
    );
  });

  describe('webhooks', () => {
    const sign = (payload: string, secret = WEBHOOK_SECRET, timestamp = Math.floor(Date.now() / 1000)) =>
      signer.generateTestHeaderString({ payload, secret, timestamp });

    async function syncedInvoice() {
      const { invoiceId } = await finalizedInvoice();
      const synced = await syncUntilDone(stripe, invoiceId);
      return { invoiceId, stripeInvoiceId: synced!.stripeInvoiceId! };
    }

    it('accepts a valid signature and rejects a wrong secret, a tampered body and a stale timestamp', async () => {
      const { stripeInvoiceId } = await syncedInvoice();
      const payload = JSON.stringify(fake.invoiceEvent('invoice.paid', stripeInvoiceId));
      expect(stripe.verifyWebhook(Buffer.from(payload), sign(payload)).type).toBe('invoice.paid');
      const rejected = (body: string, header: string | undefined) => {
        try {
          stripe.verifyWebhook(Buffer.from(body), header);
        } catch (err) {
          return err instanceof BillingError && err.code === 'stripe_signature_invalid';
        }
        return false;
      };
      expect(rejected(payload, sign(payload, 'whsec_other'))).toBe(true);
      expect(rejected(payload.replace('invoice.paid', 'invoice.voided'), sign(payload))).toBe(true);
      expect(rejected(payload, sign(payload, WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 301))).toBe(
        true,
      );
      expect(rejected(payload, undefined)).toBe(true);
    });

    it('marks the invoice paid once however often the event is delivered', async () => {
      const { invoiceId, stripeInvoiceId } = await syncedInvoice();
      const event = fake.invoiceEvent('invoice.paid', stripeInvoiceId) as unknown as Stripe.Event;
      const results = await Promise.all([1, 2, 3].map(() => stripe.handleEvent(event)));
      expect(results.filter((r) => !r.duplicate)).toEqual([
        expect.objectContaining({ outcome: 'paid', invoiceId }),
      ]);
      expect((await store.getInvoice(ADMIN, invoiceId)).status).toBe('paid');
      expect(await outboxCount('invoice.paid', invoiceId)).toBe('1');
      expect(
        await stripe.reconcile(ADMIN, { accountId: (await store.getInvoice(ADMIN, invoiceId)).accountId }),
      ).toMatchObject({ drift: [] });
    });

    it('ends paid whether the failed payment is told before or after the payment', async () => {
      const outcomes: string[][] = [];
      for (const order of [
        ['invoice.payment_failed', 'invoice.paid', 'invoice.voided'],
        ['invoice.paid', 'invoice.voided', 'invoice.payment_failed'],
      ] as const) {
        const { invoiceId, stripeInvoiceId } = await syncedInvoice();
        const events = order.map(
          (type) => fake.invoiceEvent(type, stripeInvoiceId) as unknown as Stripe.Event,
        );
        const results = [];
        for (const event of events) results.push(await stripe.handleEvent(event));
        outcomes.push(results.map((r) => r.outcome));
        expect((await store.getInvoice(ADMIN, invoiceId)).status).toBe('paid');
        expect(await outboxCount('invoice.paid', invoiceId)).toBe('1');
        expect(await outboxCount('invoice.voided', invoiceId)).toBe('0');
      }
      expect(outcomes).toEqual([
        ['payment_failed', 'paid', 'ignored: invoice is already paid'],
        ['paid', 'ignored: invoice is already paid', 'ignored: invoice is already paid'],
      ]);
    });

    it('voids the local invoice when Stripe voids it', async () => {
      const { invoiceId, stripeInvoiceId } = await syncedInvoice();
      const result = await stripe.handleEvent(
        fake.invoiceEvent('invoice.voided', stripeInvoiceId) as unknown as Stripe.Event,
      );
      expect(result.outcome).toBe('voided');
      expect(await store.getInvoice(ADMIN, invoiceId)).toMatchObject({
        status: 'void',
        voidReason: 'voided in Stripe',
      });
      expect(await outboxCount('invoice.voided', invoiceId)).toBe('1');
    });
  });

  it('reports drift: a total changed in Stripe and an invoice not yet synced', async () => {
    const synced = await finalizedInvoice();
    const done = await syncUntilDone(stripe, synced.invoiceId);
    fake.patch(done!.stripeInvoiceId!, { total: 1 });
    expect(await stripe.reconcile(ADMIN, { accountId: synced.accountId })).toMatchObject({
      drift: [{ invoiceId: synced.invoiceId, problems: ['total: local 3150, Stripe 1'] }],
    });
    const pending = await finalizedInvoice();
    expect(await stripe.reconcile(ADMIN, { accountId: pending.accountId })).toMatchObject({
      drift: [{ invoiceId: pending.invoiceId, problems: ['not synced: at step customer'] }],
    });
  });
});
