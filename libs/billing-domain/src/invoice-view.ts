import { formatMoney } from '@metering/billing-math';
import type { InvoiceDraft, InvoiceLine, InvoiceStatus } from './invoice';
import type { BillingModeName } from './tenant-subscription';

/** A stored invoice. */
export interface Invoice extends InvoiceDraft {
  id: string;
  accountId: string;
  subscriptionId: string;
  /** The tenant whose own subscription the invoice bills; null for the account's pooled invoice. */
  tenantId: string | null;
  periodStartMs: number;
  periodEndMs: number;
  periodStartDate: string;
  periodEndDate: string;
  status: InvoiceStatus;
  /** While `now < graceUntilMs` a draft is re-rated by billing runs; after it, finalized. */
  graceUntilMs: number;
  version: number;
  createdAt: string;
  updatedAt: string;
  finalizedAt: string | null;
  voidedAt: string | null;
  voidReason: string | null;
}

/** An amount as the API shows it: integer minor units and the decimal string in major units. */
export interface MoneyView {
  minor: number;
  formatted: string;
}

function minorNumber(amount: bigint): number {
  const n = Number(amount);
  if (!Number.isSafeInteger(n)) throw new RangeError(`amount ${amount} does not fit a JSON integer`);
  return n;
}

export const moneyView = (amount: bigint, currency: string): MoneyView => ({
  minor: minorNumber(amount),
  formatted: formatMoney(amount, currency),
});

const iso = (ms: number) => new Date(ms).toISOString();

function lineView(line: InvoiceLine, currency: string) {
  const { amount, tiers, attribution, adjusts, fromMs, toMs, ...rest } = line;
  return {
    ...rest,
    from: iso(fromMs),
    to: iso(toMs),
    amount: moneyView(amount, currency),
    ...(tiers ? { tiers: tiers.map((t) => ({ ...t, amount: moneyView(t.amount, currency) })) } : {}),
    attribution: attribution.map((a) => ({ ...a, amount: moneyView(a.amount, currency) })),
    ...(adjusts
      ? {
          adjusts: {
            ...adjusts,
            invoicedAmount: moneyView(adjusts.invoicedAmount, currency),
            currentAmount: moneyView(adjusts.currentAmount, currency),
          },
        }
      : {}),
  };
}

export type InvoiceLineView = ReturnType<typeof lineView>;

/** Which mode an invoice bills: the account's pool, or one tenant's own subscription. */
export const modeOf = (tenantId: string | null): BillingModeName => (tenantId ? 'tenant' : 'pooled');

/** The JSON form of an invoice or a preview. */
export function invoiceView(invoice: Invoice) {
  return {
    id: invoice.id,
    accountId: invoice.accountId,
    mode: modeOf(invoice.tenantId),
    tenantId: invoice.tenantId,
    subscriptionId: invoice.subscriptionId,
    status: invoice.status,
    currency: invoice.currency,
    periodStart: iso(invoice.periodStartMs),
    periodEnd: iso(invoice.periodEndMs),
    periodStartDate: invoice.periodStartDate,
    periodEndDate: invoice.periodEndDate,
    total: moneyView(invoice.total, invoice.currency),
    lines: invoice.lines.map((l) => lineView(l, invoice.currency)),
    graceUntil: iso(invoice.graceUntilMs),
    version: invoice.version,
    createdAt: invoice.createdAt,
    updatedAt: invoice.updatedAt,
    finalizedAt: invoice.finalizedAt,
    voidedAt: invoice.voidedAt,
    voidReason: invoice.voidReason,
  };
}

export type InvoiceView = ReturnType<typeof invoiceView>;

/** The upcoming invoice: the current period rated on its usage so far; not stored. */
export function previewView(
  accountId: string,
  draft: InvoiceDraft,
  period: { startMs: number; endMs: number; startDate: string; endDate: string },
  asOfMs: number,
  tenantId: string | null = null,
) {
  return {
    accountId,
    mode: modeOf(tenantId),
    tenantId,
    currency: draft.currency,
    periodStart: iso(period.startMs),
    periodEnd: iso(period.endMs),
    periodStartDate: period.startDate,
    periodEndDate: period.endDate,
    asOf: iso(asOfMs),
    total: moneyView(draft.total, draft.currency),
    lines: draft.lines.map((l) => lineView(l, draft.currency)),
  };
}

export const INVOICE_CSV_COLUMNS = [
  'invoice_id',
  'account_id',
  'mode',
  'invoice_tenant_id',
  'status',
  'currency',
  'period_start',
  'period_end',
  'line',
  'kind',
  'meter_key',
  'tenant_id',
  'description',
  'quantity',
  'amount_minor',
  'amount',
] as const;

const csvField = (value: string | number): string => {
  const text = String(value);
  // Quote what needs it; a leading formula character is prefixed so spreadsheets show it as text.
  const safe = /^[=+\-@\t\r]/.test(text) && !/^-?\d/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

/**
 * Invoices for finance as CSV (RFC 4180, header row): one row per line and one per tenant
 * sub-line (`tenant_id` set; a line's sub-lines add up to it), amounts in minor units and decimal.
 * `mode` is `pooled` (the account's pool) or `tenant` (the own subscription of `invoice_tenant_id`).
 */
export function invoicesCsv(invoices: readonly Invoice[]): string {
  const rows: (string | number)[][] = [[...INVOICE_CSV_COLUMNS]];
  for (const inv of invoices) {
    const head = [
      inv.id,
      inv.accountId,
      modeOf(inv.tenantId),
      inv.tenantId ?? '',
      inv.status,
      inv.currency,
      iso(inv.periodStartMs),
      iso(inv.periodEndMs),
    ];
    inv.lines.forEach((line, i) => {
      const quantity = line.kind === 'base_fee' ? '' : (line.pooled ?? '');
      rows.push([
        ...head,
        i + 1,
        line.kind,
        line.meterKey ?? '',
        '',
        line.description,
        quantity,
        minorNumber(line.amount),
        formatMoney(line.amount, inv.currency),
      ]);
      for (const sub of line.attribution) {
        rows.push([
          ...head,
          i + 1,
          line.kind,
          line.meterKey ?? '',
          sub.tenantId,
          '',
          sub.quantity,
          minorNumber(sub.amount),
          formatMoney(sub.amount, inv.currency),
        ]);
      }
    });
  }
  return rows.map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}
