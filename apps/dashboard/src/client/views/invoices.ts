/// <reference lib="dom" />
import { swatch } from '../charts';
import { html, type Html } from '../html';
import type { Invoice, InvoiceLine } from '../types';
import { badge, meterName, type AccountContext, type ViewState, headRow } from './context';
import type { ViewHost } from './chart-view';

const MAX_PAGES = 20;

/** Every invoice of the account, oldest period first (following `nextCursor`). */
async function allInvoices(ctx: AccountContext): Promise<Invoice[]> {
  const invoices: Invoice[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const body = await ctx.api.get<{ invoices: Invoice[]; nextCursor: string | null }>(
      'billing',
      `/v1/accounts/${encodeURIComponent(ctx.account.id)}/invoices`,
      { limit: 100, cursor },
    );
    invoices.push(...body.invoices);
    if (!body.nextCursor) break;
    cursor = body.nextCursor;
  }
  return invoices;
}

/** Whom an invoice bills: the account's pool, or one tenant on its own plan. */
function billedTo(ctx: AccountContext, invoice: Invoice): Html {
  return invoice.mode === 'tenant' && invoice.tenantId
    ? html`<span class="mode" data-mode="tenant"
        >${swatch(ctx.directory.colour(invoice.tenantId), ctx.directory.name(invoice.tenantId))} (own
        plan)</span
      >`
    : html`<span class="mode" data-mode="pooled">Account pool</span>`;
}

/** A tenant's share of a line as a bar of the line's width. */
function shareBar(colour: string, minor: number, lineMinor: number): Html {
  const width = lineMinor > 0 ? Math.max(0, Math.round((120 * minor) / lineMinor)) : 0;
  return html`<svg class="share" width="120" height="10" aria-hidden="true">
    <rect width="120" height="10" fill="#e9ecef" />
    <rect width="${width}" height="10" fill="${colour}" />
  </svg>`;
}

function lineRows(ctx: AccountContext, line: InvoiceLine, index: number, currency: string): Html {
  const head = html`<tr
    class="line"
    data-line="${index}"
    data-kind="${line.kind}"
    data-meter="${line.meterKey ?? ''}"
  >
    <td>${line.description}${line.meterKey ? html` <small>${meterName(ctx, line.meterKey)}</small>` : ''}</td>
    <td class="num">${line.pooled ?? ''}</td>
    <td class="num">${line.included ?? ''}</td>
    <td class="num">${line.overage ?? ''}</td>
    <td class="num amount" data-minor="${line.amount.minor}">${line.amount.formatted} ${currency}</td>
  </tr>`;
  const subs = line.attribution.map(
    (a) =>
      html`<tr class="attribution" data-line="${index}" data-tenant="${a.tenantId}">
        <td class="tenant">${swatch(ctx.directory.colour(a.tenantId), ctx.directory.name(a.tenantId))}</td>
        <td class="num quantity">${a.quantity}</td>
        <td></td>
        <td>${shareBar(ctx.directory.colour(a.tenantId), a.amount.minor, line.amount.minor)}</td>
        <td class="num amount" data-minor="${a.amount.minor}">${a.amount.formatted} ${currency}</td>
      </tr>`,
  );
  return html`${head}${subs}`;
}

function invoiceDetail(ctx: AccountContext, invoice: Invoice): Html {
  return html`<div class="invoice" data-invoice="${invoice.id}">
    <h3>
      ${invoice.periodStartDate} – ${invoice.periodEndDate} ${billedTo(ctx, invoice)} ${badge(invoice.status)}
      <span class="total" data-minor="${invoice.total.minor}"
        >${invoice.total.formatted} ${invoice.currency}</span
      >
    </h3>
    <table class="lines">
      ${headRow(['Line / tenant', 'Pooled', 'Included', 'Overage', 'Amount'])}
      <tbody>
        ${invoice.lines.map((l, i) => lineRows(ctx, l, i, invoice.currency))}
      </tbody>
      <tfoot>
        <tr>
          <th colspan="4">Total</th>
          <th class="num">${invoice.total.formatted} ${invoice.currency}</th>
        </tr>
      </tfoot>
    </table>
  </div>`;
}

/** The account's invoices; the latest shown with its lines and each tenant's part; CSV export. */
export async function renderInvoices(ctx: AccountContext, host: ViewHost): Promise<void> {
  await host.run(async (): Promise<ViewState> => {
    const invoices = await allInvoices(ctx);
    const csvPath = `/v1/accounts/${encodeURIComponent(ctx.account.id)}/invoices.csv`;
    host.body.innerHTML = html`<div class="controls">
        <button type="button" class="download-csv" ${invoices.length ? '' : html`disabled`}>
          Download CSV
        </button>
      </div>
      ${
        invoices.length
          ? html`<table class="invoice-list">
                ${headRow(['Period', 'Billed', 'Status', 'Total', ''])}
                <tbody>
                  ${[...invoices].reverse().map(
                    (inv) =>
                      html`<tr data-invoice="${inv.id}">
                        <td>${inv.periodStartDate} – ${inv.periodEndDate}</td>
                        <td>${billedTo(ctx, inv)}</td>
                        <td>${badge(inv.status)}</td>
                        <td class="num">${inv.total.formatted} ${inv.currency}</td>
                        <td>
                          <button type="button" class="show-invoice" data-invoice="${inv.id}">Show</button>
                        </td>
                      </tr>`,
                  )}
                </tbody>
              </table>
              <div class="invoice-detail"></div>`
          : html`<p class="empty">No invoices yet.</p>`
      }`.value;
    const detail = host.body.querySelector<HTMLElement>('.invoice-detail');
    const show = (id: string) => {
      const invoice = invoices.find((i) => i.id === id);
      if (detail && invoice) detail.innerHTML = invoiceDetail(ctx, invoice).value;
    };
    host.body
      .querySelectorAll<HTMLButtonElement>('button.show-invoice')
      .forEach((b) => b.addEventListener('click', () => show(b.dataset.invoice!)));
    host.body.querySelector<HTMLButtonElement>('button.download-csv')!.addEventListener('click', () => {
      void host.run(async (): Promise<ViewState> => {
        await ctx.api.download('billing', csvPath, `invoices-${ctx.account.id}.csv`);
        return 'ready';
      });
    });
    if (!invoices.length) return 'empty';
    show(invoices[invoices.length - 1].id);
    return 'ready';
  });
}
