import Stripe from 'stripe';
import type { EntityManager } from 'typeorm';
import {
  BillingError,
  BillingErrorCode,
  decideStripeEvent,
  isStripeInvoiceEvent,
  stripeDrift,
  stripeInvoiceItems,
  stripeKeys,
  type Invoice,
  type StripeEventDecision,
} from '@metering/billing-domain';
import { invoiceEventData, invoiceStream, toInvoice, type BillingStore, type Caller } from './billing.store';

/** The real stripe-node client; `apiBase` points it at another server (tests use a local one). */
export function createStripeClient(options: {
  secretKey: string;
  apiBase?: string;
  maxNetworkRetries?: number;
  timeoutMs?: number;
}): Stripe {
  const base = options.apiBase ? new URL(options.apiBase) : undefined;
  return new Stripe(options.secretKey, {
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    timeout: options.timeoutMs ?? 30_000,
    ...(base
      ? {
          host: base.hostname,
          port: base.port || (base.protocol === 'http:' ? 80 : 443),
          protocol: base.protocol === 'http:' ? 'http' : 'https',
        }
      : {}),
  });
}

export interface StripeBillingOptions {
  webhookSecret: string;
  /** Largest age of a webhook signature accepted, in seconds (Stripe's default is 300). */
  webhookToleranceSec?: number;
  /** Delay before the first retry of a failed sync; doubled per attempt up to `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long a worker owns a claimed invoice before another may take it over. */
  leaseMs?: number;
}

export type SyncStep = 'customer' | 'invoice' | 'items' | 'finalize' | 'done' | 'cancelled';

export interface SyncResult {
  invoiceId: string;
  step: SyncStep;
  stripeInvoiceId: string | null;
  error?: string;
}

export interface WebhookResult {
  eventId: string;
  type: string;
  duplicate: boolean;
  outcome: string;
  invoiceId: string | null;
}

export interface ReconciliationReport {
  checkedAt: string;
  checked: number;
  drift: {
    invoiceId: string;
    accountId: string;
    stripeInvoiceId: string | null;
    problems: string[];
  }[];
}

type Row = Record<string, unknown>;

const SYSTEM: Caller = { scope: 'all-accounts', actor: { type: 'system', id: 'stripe-sync' } };
const WEBHOOK: Caller = { scope: 'all-accounts', actor: { type: 'system', id: 'stripe-webhook' } };

/**
 * Billing's side of Stripe: pushes finalized invoices (customer, invoice, one item per line,
 * finalize) from the `stripe_invoice_sync` queue, applies invoice webhooks, and compares local
 * invoices with Stripe's. Every Stripe mutation carries a key derived from local ids
 * (`stripeKeys`), and each step done is recorded before the next, so retries — the SDK's after a
 * lost response, the worker's after a failure or a crash — never make a second object.
 */
export class StripeBilling {
  private readonly options: Required<StripeBillingOptions>;

  constructor(
    private readonly store: BillingStore,
    private readonly stripe: Stripe,
    options: StripeBillingOptions,
  ) {
    this.options = {
      webhookToleranceSec: 300,
      baseBackoffMs: 1_000,
      maxBackoffMs: 600_000,
      leaseMs: 300_000,
      ...options,
    };
  }

  // ---- sync worker ----

  /**
   * Claims up to `limit` due invoices (a lease, so concurrent workers take different ones) and
   * pushes each to Stripe as far as it gets; a failure is recorded with the next attempt time.
   */
  async syncDue(nowMs = Date.now(), limit = 10): Promise<SyncResult[]> {
    const claimed = await this.store.events.inScope(SYSTEM.scope, (tx) =>
      tx.query<Row[][]>(
        `UPDATE stripe_invoice_sync SET lease_until = now() + make_interval(secs => $3::double precision / 1000),
           attempts = attempts + 1, updated_at = now()
         WHERE invoice_id IN (
           SELECT invoice_id FROM stripe_invoice_sync
           WHERE step NOT IN ('done', 'cancelled') AND next_attempt_at <= to_timestamp($1::double precision / 1000)
             AND (lease_until IS NULL OR lease_until < now())
           ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING invoice_id, attempts`,
        [nowMs, limit, this.options.leaseMs],
      ),
    );
    const results: SyncResult[] = [];
    for (const row of claimed[0]) {
      results.push(await this.syncOne(row.invoice_id as string, row.attempts as number));
    }
    return results;
  }

  /** The sync state of one invoice (undefined when it was never queued). */
  async syncState(caller: Caller, invoiceId: string): Promise<Row | undefined> {
    const [row] = await this.store.events.inScope(caller.scope, (tx) =>
      tx.query<Row[]>(`SELECT * FROM stripe_invoice_sync WHERE invoice_id = $1`, [invoiceId]),
    );
    return row;
  }

  private async syncOne(invoiceId: string, attempts: number): Promise<SyncResult> {
    let state = (await this.syncState(SYSTEM, invoiceId))!;
    try {
      const invoice = await this.store.getInvoice(SYSTEM, invoiceId);
      if (invoice.status === 'void' && !state.stripe_invoice_id) {
        // Voided before it reached Stripe: there is nothing to collect.
        state = await this.record(invoiceId, { step: 'cancelled' });
        return this.result(state);
      }
      if (state.step === 'customer') {
        const customerId = await this.customerFor(invoice);
        state = await this.record(invoiceId, { step: 'invoice', stripe_customer_id: customerId });
      }
      const customer = state.stripe_customer_id as string;
      if (state.step === 'invoice') {
        const created = await this.stripe.invoices.create(
          {
            customer,
            currency: invoice.currency.toLowerCase(),
            auto_advance: false,
            collection_method: 'charge_automatically',
            // Only the items made below for this invoice, never other pending items of the customer.
            pending_invoice_items_behavior: 'exclude',
            description: `Usage ${invoice.periodStartDate} – ${invoice.periodEndDate}`,
            metadata: {
              local_invoice_id: invoice.id,
              account_id: invoice.accountId,
              billing_mode: invoice.tenantId ? 'tenant' : 'pooled',
              ...(invoice.tenantId ? { billed_tenant_id: invoice.tenantId } : {}),
              period_start: invoice.periodStartDate,
              period_end: invoice.periodEndDate,
            },
          },
          { idempotencyKey: stripeKeys.createInvoice(invoice.id) },
        );
        state = await this.record(invoiceId, { step: 'items', stripe_invoice_id: created.id });
      }
      const stripeInvoiceId = state.stripe_invoice_id as string;
      if (state.step === 'items') {
        const items = stripeInvoiceItems(invoice);
        for (const item of items.slice(state.items_synced as number)) {
          await this.stripe.invoiceItems.create(
            {
              customer,
              invoice: stripeInvoiceId,
              amount: item.amount,
              currency: item.currency,
              description: item.description,
              period: item.period,
              metadata: item.metadata,
            },
            { idempotencyKey: item.idempotencyKey },
          );
          state = await this.record(invoiceId, { items_synced: item.lineNo });
        }
        state = await this.record(invoiceId, { step: 'finalize' });
      }
      if (state.step === 'finalize') {
        await this.stripe.invoices.finalizeInvoice(
          stripeInvoiceId,
          { auto_advance: true },
          { idempotencyKey: stripeKeys.finalize(invoice.id) },
        );
        state = await this.record(invoiceId, { step: 'done', last_error: null });
      }
      return this.result(state);
    } catch (err) {
      const delay = Math.min(this.options.baseBackoffMs * 2 ** (attempts - 1), this.options.maxBackoffMs);
      const message = (err as Error).message;
      state = await this.record(invoiceId, { last_error: message }, delay);
      return { ...this.result(state), error: message };
    }
  }

  private result(state: Row): SyncResult {
    return {
      invoiceId: state.invoice_id as string,
      step: state.step as SyncStep,
      stripeInvoiceId: (state.stripe_invoice_id as string | null) ?? null,
    };
  }

  /**
   * Saves progress. With `retryInMs`, releases the lease and schedules the next attempt; the
   * lease is also released once the sync is over.
   */
  private async record(invoiceId: string, changes: Row, retryInMs?: number): Promise<Row> {
    const keys = Object.keys(changes);
    const sets = keys.map((k, i) => `${k} = $${i + 2}`);
    if (retryInMs !== undefined) {
      sets.push(
        `lease_until = NULL`,
        `next_attempt_at = now() + make_interval(secs => $${keys.length + 2}::double precision / 1000)`,
      );
    } else if (changes.step === 'done' || changes.step === 'cancelled') {
      sets.push(`lease_until = NULL`);
    }
    const params = [
      invoiceId,
      ...keys.map((k) => changes[k]),
      ...(retryInMs === undefined ? [] : [retryInMs]),
    ];
    const [rows] = await this.store.events.inScope(SYSTEM.scope, (tx) =>
      tx.query<Row[][]>(
        `UPDATE stripe_invoice_sync SET ${sets.join(', ')}, updated_at = now() WHERE invoice_id = $1 RETURNING *`,
        params,
      ),
    );
    return rows[0];
  }

  /**
   * Whose customer an invoice goes to: the account's, or for a tenant's own subscription with
   * `stripeCustomer: tenant` the tenant's own (a separate Stripe invoice either way).
   */
  private async customerFor(invoice: Invoice): Promise<string> {
    if (!invoice.tenantId) return this.ensureCustomer(invoice.accountId);
    const subscription = await this.store.getTenantSubscription(SYSTEM, invoice.subscriptionId);
    if (subscription.stripeCustomer === 'account') return this.ensureCustomer(invoice.accountId);
    return this.ensureTenantCustomer(invoice.accountId, invoice.tenantId);
  }

  /** A tenant's own Stripe customer, made on first use. */
  private async ensureTenantCustomer(accountId: string, tenantId: string): Promise<string> {
    const known = await this.tenantCustomerOf(accountId, tenantId);
    if (known) return known;
    const customer = await this.stripe.customers.create(
      { name: tenantId, metadata: { account_id: accountId, tenant_id: tenantId } },
      { idempotencyKey: stripeKeys.tenantCustomer(accountId, tenantId) },
    );
    await this.store.events.inScope({ accountId }, (tx) =>
      tx.query(
        `INSERT INTO stripe_tenant_customers (tenant_id, account_id, customer_id) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id) DO NOTHING`,
        [tenantId, accountId, customer.id],
      ),
    );
    return (await this.tenantCustomerOf(accountId, tenantId))!;
  }

  async tenantCustomerOf(accountId: string, tenantId: string): Promise<string | undefined> {
    const [row] = await this.store.events.inScope({ accountId }, (tx) =>
      tx.query<Row[]>(`SELECT customer_id FROM stripe_tenant_customers WHERE tenant_id = $1`, [tenantId]),
    );
    return row?.customer_id as string | undefined;
  }

  /** The account's Stripe customer, made on first use. */
  private async ensureCustomer(accountId: string): Promise<string> {
    const known = await this.customerOf(accountId);
    if (known) return known;
    const customer = await this.stripe.customers.create(
      { name: accountId, metadata: { account_id: accountId } },
      { idempotencyKey: stripeKeys.customer(accountId) },
    );
    await this.store.events.inScope({ accountId }, (tx) =>
      tx.query(
        `INSERT INTO stripe_customers (account_id, customer_id) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING`,
        [accountId, customer.id],
      ),
    );
    return (await this.customerOf(accountId))!;
  }

  async customerOf(accountId: string): Promise<string | undefined> {
    const [row] = await this.store.events.inScope({ accountId }, (tx) =>
      tx.query<Row[]>(`SELECT customer_id FROM stripe_customers WHERE account_id = $1`, [accountId]),
    );
    return row?.customer_id as string | undefined;
  }

  // ---- webhooks ----

  /** The event of a webhook, if its signature over the raw body is valid and recent; else 400. */
  verifyWebhook(rawBody: Buffer | string, signature: string | undefined): Stripe.Event {
    if (!signature) {
      throw new BillingError(BillingErrorCode.STRIPE_SIGNATURE_INVALID, 'missing Stripe-Signature header');
    }
    try {
      return this.stripe.webhooks.constructEvent(
        rawBody,
        signature,
        this.options.webhookSecret,
        this.options.webhookToleranceSec,
      );
    } catch (err) {
      throw new BillingError(
        BillingErrorCode.STRIPE_SIGNATURE_INVALID,
        `Stripe signature rejected: ${(err as Error).message}`,
      );
    }
  }

  /**
   * Applies a verified event once: the event id is recorded in the same transaction as its
   * effect, so a redelivery is answered as a duplicate. Transitions only move forward
   * (`decideStripeEvent`), so any order of deliveries ends in the same state.
   */
  async handleEvent(event: Stripe.Event): Promise<WebhookResult> {
    const object = event.data.object as { id?: string; object?: string; metadata?: Record<string, string> };
    const stripeObjectId = object.id ?? null;
    return this.store.events.inScope(WEBHOOK.scope, async (tx) => {
      const invoiceId = event.type.startsWith('invoice.') ? await this.localInvoiceOf(tx, object) : null;
      const [inserted] = await tx.query<Row[]>(
        `INSERT INTO stripe_webhook_events (event_id, type, stripe_object_id, invoice_id, outcome)
         VALUES ($1, $2, $3, $4, 'received') ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
        [event.id, event.type, stripeObjectId, invoiceId],
      );
      if (!inserted) {
        const [seen] = await tx.query<Row[]>(
          `SELECT outcome FROM stripe_webhook_events WHERE event_id = $1`,
          [event.id],
        );
        return {
          eventId: event.id,
          type: event.type,
          duplicate: true,
          outcome: seen.outcome as string,
          invoiceId,
        };
      }
      const outcome = await this.applyEvent(tx, event, invoiceId);
      await tx.query(`UPDATE stripe_webhook_events SET outcome = $2 WHERE event_id = $1`, [
        event.id,
        outcome,
      ]);
      return { eventId: event.id, type: event.type, duplicate: false, outcome, invoiceId };
    });
  }

  private async localInvoiceOf(
    tx: EntityManager,
    object: { id?: string; metadata?: Record<string, string> },
  ): Promise<string | null> {
    if (object.metadata?.local_invoice_id) return object.metadata.local_invoice_id;
    if (!object.id) return null;
    const [row] = await tx.query<Row[]>(
      `SELECT invoice_id FROM stripe_invoice_sync WHERE stripe_invoice_id = $1`,
      [object.id],
    );
    return (row?.invoice_id as string | undefined) ?? null;
  }

  private async applyEvent(
    tx: EntityManager,
    event: Stripe.Event,
    invoiceId: string | null,
  ): Promise<string> {
    if (!isStripeInvoiceEvent(event.type)) return 'ignored: event type not handled';
    if (!invoiceId) return 'ignored: not an invoice of this service';
    const [row] = await tx.query<Row[]>(`SELECT * FROM invoices WHERE id = $1 FOR UPDATE`, [invoiceId]);
    if (!row) return `ignored: no invoice ${invoiceId}`;
    const invoice = toInvoice(row);
    const decision: StripeEventDecision = decideStripeEvent(invoice.status, event.type);
    const stripeInvoiceId = (event.data.object as { id: string }).id;
    const extra = { stripeInvoiceId, stripeEventId: event.id };
    switch (decision.kind) {
      case 'ignored':
        return `ignored: ${decision.reason}`;
      case 'paid': {
        const paid = await this.setStatus(tx, invoice, 'paid');
        await tx.query(
          `UPDATE stripe_invoice_sync SET payment_status = 'paid', paid_at = now(), updated_at = now()
           WHERE invoice_id = $1`,
          [invoice.id],
        );
        await this.emitInvoiceEvent(tx, paid, 'invoice.paid', extra);
        return 'paid';
      }
      case 'voided': {
        const voided = await this.setStatus(tx, invoice, 'void', 'voided in Stripe');
        await this.emitInvoiceEvent(tx, voided, 'invoice.voided', {
          ...extra,
          previousStatus: invoice.status,
          reason: 'voided in Stripe',
        });
        return 'voided';
      }
      case 'payment_failed': {
        await tx.query(
          `UPDATE stripe_invoice_sync SET payment_status = 'payment_failed', payment_failed_at = now(),
             updated_at = now() WHERE invoice_id = $1 AND payment_status IS DISTINCT FROM 'paid'`,
          [invoice.id],
        );
        const attemptCount = (event.data.object as { attempt_count?: number }).attempt_count;
        await this.emitInvoiceEvent(tx, invoice, 'invoice.payment_failed', {
          ...extra,
          ...(attemptCount === undefined ? {} : { attemptCount }),
        });
        return 'payment_failed';
      }
      default: {
        const unknown: never = decision;
        throw new Error(`unhandled decision ${JSON.stringify(unknown)}`);
      }
    }
  }

  private async setStatus(
    tx: EntityManager,
    invoice: Invoice,
    status: 'paid' | 'void',
    voidReason?: string,
  ): Promise<Invoice> {
    const [rows] = await tx.query<Row[][]>(
      status === 'void'
        ? `UPDATE invoices SET status = 'void', voided_at = now(), void_reason = $2, updated_at = now(),
             version = version + 1 WHERE id = $1 RETURNING *`
        : `UPDATE invoices SET status = 'paid', updated_at = now(), version = version + 1 WHERE id = $1 RETURNING *`,
      status === 'void' ? [invoice.id, voidReason] : [invoice.id],
    );
    return toInvoice(rows[0]);
  }

  private async emitInvoiceEvent(
    tx: EntityManager,
    invoice: Invoice,
    type: string,
    extra: Record<string, unknown>,
  ) {
    await this.store.emit(tx, WEBHOOK, invoice.accountId, invoiceStream(invoice.id), [
      { type, data: { ...invoiceEventData(invoice), ...extra } },
    ]);
  }

  // ---- reconciliation ----

  /**
   * Compares the most recently finalized invoices queued for Stripe (all accounts, or one) with
   * Stripe's: not yet synced, missing in Stripe, or differing in status, total, currency or
   * customer. A Stripe error other than "no such invoice" fails the report, never hides drift.
   */
  async reconcile(
    caller: Caller,
    options: { accountId?: string; limit?: number } = {},
  ): Promise<ReconciliationReport> {
    const rows = await this.store.events.inScope(caller.scope, (tx) =>
      tx.query<Row[]>(
        `SELECT s.*, i.status, i.total_minor, i.currency FROM stripe_invoice_sync s JOIN invoices i ON i.id = s.invoice_id
         WHERE ($1::text IS NULL OR s.account_id = $1) ORDER BY s.created_at DESC, s.invoice_id LIMIT $2`,
        [options.accountId ?? null, options.limit ?? 100],
      ),
    );
    const report: ReconciliationReport = {
      checkedAt: new Date().toISOString(),
      checked: rows.length,
      drift: [],
    };
    for (const row of rows) {
      const invoiceId = row.invoice_id as string;
      const stripeInvoiceId = (row.stripe_invoice_id as string | null) ?? null;
      const base = { invoiceId, accountId: row.account_id as string, stripeInvoiceId };
      if (row.step === 'cancelled') continue;
      if (row.step !== 'done') {
        const error = row.last_error ? `; last error: ${row.last_error as string}` : '';
        report.drift.push({ ...base, problems: [`not synced: at step ${row.step as string}${error}`] });
        continue;
      }
      let remote: Stripe.Invoice;
      try {
        remote = await this.stripe.invoices.retrieve(stripeInvoiceId!);
      } catch (err) {
        if (err instanceof Stripe.errors.StripeError && err.statusCode === 404) {
          report.drift.push({ ...base, problems: ['missing in Stripe'] });
          continue;
        }
        throw err;
      }
      const problems = stripeDrift(
        {
          status: row.status as Invoice['status'],
          total: BigInt(row.total_minor as string),
          currency: row.currency as string,
          customerId: (row.stripe_customer_id as string | null) ?? null,
        },
        {
          id: remote.id ?? stripeInvoiceId!,
          status: remote.status,
          total: remote.total,
          currency: remote.currency,
          customer: typeof remote.customer === 'string' ? remote.customer : (remote.customer?.id ?? null),
        },
      );
      if (problems.length) report.drift.push({ ...base, problems });
    }
    return report;
  }
}
