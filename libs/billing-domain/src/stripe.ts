import type { InvoiceStatus } from './invoice';
import type { Invoice } from './invoice-view';

/**
 * Idempotency keys of every Stripe mutation billing makes. They are derived from local ids only,
 * so a retry after a lost response (or after a crash) repeats the same key and Stripe answers
 * with the object it already made instead of making a second one.
 */
export const stripeKeys = {
  customer: (accountId: string) => `customer:${accountId}`,
  /** A tenant's own customer (a tenant subscription billed to it, not to the account). */
  tenantCustomer: (accountId: string, tenantId: string) => `customer:${accountId}:tenant:${tenantId}`,
  createInvoice: (invoiceId: string) => `invoice:${invoiceId}:create`,
  item: (invoiceId: string, lineNo: number) => `invoice:${invoiceId}:item:${lineNo}`,
  finalize: (invoiceId: string) => `invoice:${invoiceId}:finalize`,
} as const;

/** Stripe allows 50 metadata keys of at most 500 characters each. */
const METADATA_VALUE_MAX = 500;
const ATTRIBUTION_KEYS_MAX = 40;

/** One Stripe invoice item for one invoice line: amount in minor units, tenant attribution in metadata. */
export interface StripeItemSpec {
  lineNo: number;
  idempotencyKey: string;
  amount: number;
  currency: string;
  description: string;
  period: { start: number; end: number };
  metadata: Record<string, string>;
}

function safeMinor(amount: bigint, what: string): number {
  const n = Number(amount);
  if (!Number.isSafeInteger(n)) throw new RangeError(`${what}: ${amount} does not fit a Stripe amount`);
  return n;
}

/**
 * The tenant attribution as `tenantId=minor` pairs joined by `;`, split into metadata values of
 * at most 500 characters (`attribution_0`, `attribution_1`, …). Past 40 values the rest is left
 * out and `attribution_truncated` says so; the local invoice always has every sub-line.
 */
export function attributionMetadata(
  attribution: readonly { tenantId: string; amount: bigint }[],
): Record<string, string> {
  const out: Record<string, string> = {};
  let chunk = '';
  let n = 0;
  for (const sub of attribution) {
    const pair = `${sub.tenantId}=${sub.amount.toString()}`.slice(0, METADATA_VALUE_MAX);
    if (chunk && chunk.length + 1 + pair.length > METADATA_VALUE_MAX) {
      out[`attribution_${n++}`] = chunk;
      chunk = '';
      if (n === ATTRIBUTION_KEYS_MAX) {
        out.attribution_truncated = 'true';
        return out;
      }
    }
    chunk = chunk ? `${chunk};${pair}` : pair;
  }
  if (chunk) out[`attribution_${n}`] = chunk;
  return out;
}

/** The Stripe invoice items of a finalized invoice: one per line, numbered from 1 like `invoice_lines`. */
export function stripeInvoiceItems(invoice: Invoice): StripeItemSpec[] {
  return invoice.lines.map((line, i) => {
    const lineNo = i + 1;
    return {
      lineNo,
      idempotencyKey: stripeKeys.item(invoice.id, lineNo),
      amount: safeMinor(line.amount, `invoice ${invoice.id} line ${lineNo}`),
      currency: invoice.currency.toLowerCase(),
      description: line.description,
      period: { start: Math.floor(line.fromMs / 1000), end: Math.floor(line.toMs / 1000) },
      metadata: {
        local_invoice_id: invoice.id,
        account_id: invoice.accountId,
        billing_mode: invoice.tenantId ? 'tenant' : 'pooled',
        ...(invoice.tenantId ? { billed_tenant_id: invoice.tenantId } : {}),
        line_no: String(lineNo),
        kind: line.kind,
        ...(line.meterKey ? { meter_key: line.meterKey } : {}),
        tenants: String(line.attribution.length),
        ...attributionMetadata(line.attribution),
      },
    };
  });
}

export const STRIPE_INVOICE_EVENTS = ['invoice.paid', 'invoice.payment_failed', 'invoice.voided'] as const;
export type StripeInvoiceEventType = (typeof STRIPE_INVOICE_EVENTS)[number];

export const isStripeInvoiceEvent = (type: string): type is StripeInvoiceEventType =>
  (STRIPE_INVOICE_EVENTS as readonly string[]).includes(type);

export type StripeEventDecision =
  { kind: 'paid' } | { kind: 'voided' } | { kind: 'payment_failed' } | { kind: 'ignored'; reason: string };

/**
 * What a Stripe invoice event does to the local invoice. Transitions only move forward
 * (finalized → paid | void; both final), so duplicated or reordered webhooks end in the same
 * state: a late `payment_failed` or `voided` never reopens or undoes a paid invoice.
 */
export function decideStripeEvent(status: InvoiceStatus, type: StripeInvoiceEventType): StripeEventDecision {
  if (status === 'draft') return { kind: 'ignored', reason: 'invoice is a draft' };
  switch (type) {
    case 'invoice.paid':
      if (status === 'finalized') return { kind: 'paid' };
      return { kind: 'ignored', reason: `invoice is already ${status}` };
    case 'invoice.voided':
      if (status === 'finalized') return { kind: 'voided' };
      return { kind: 'ignored', reason: `invoice is already ${status}` };
    case 'invoice.payment_failed':
      if (status === 'finalized') return { kind: 'payment_failed' };
      return { kind: 'ignored', reason: `invoice is already ${status}` };
    default: {
      const unknown: never = type;
      throw new Error(`unhandled Stripe event ${String(unknown)}`);
    }
  }
}

/** The Stripe status a local invoice should have once synced. */
const EXPECTED_STRIPE_STATUS: Record<InvoiceStatus, string | null> = {
  draft: null,
  finalized: 'open',
  paid: 'paid',
  void: 'void',
};

export interface StripeInvoiceSnapshot {
  id: string;
  status: string | null;
  total: number;
  currency: string;
  customer: string | null;
}

/**
 * Differences between a local invoice and its Stripe invoice (empty when they agree): status,
 * total in minor units, currency and customer.
 */
export function stripeDrift(
  local: { status: InvoiceStatus; total: bigint; currency: string; customerId: string | null },
  remote: StripeInvoiceSnapshot,
): string[] {
  const problems: string[] = [];
  const expected = EXPECTED_STRIPE_STATUS[local.status];
  if (expected !== remote.status) {
    problems.push(`status: local ${local.status}, Stripe ${remote.status ?? 'none'}`);
  }
  if (BigInt(remote.total) !== local.total) {
    problems.push(`total: local ${local.total.toString()}, Stripe ${remote.total}`);
  }
  if (remote.currency.toLowerCase() !== local.currency.toLowerCase()) {
    problems.push(`currency: local ${local.currency}, Stripe ${remote.currency}`);
  }
  if (local.customerId && remote.customer !== local.customerId) {
    problems.push(`customer: local ${local.customerId}, Stripe ${remote.customer ?? 'none'}`);
  }
  return problems;
}
