/// <reference lib="dom" />
import { html, type Html } from '../html';
import type { AuditEntry, AuditVerification } from '../types';
import type { ViewHost } from './chart-view';
import { utcTime, type AccountContext, type ViewState, headRow } from './context';

const PAGE = 50;

function verification(v: AuditVerification): Html {
  return v.ok
    ? html`<p
        class="verification ok"
        data-ok="true"
        data-entries="${v.entries}"
        data-head-seq="${v.head.seq}"
      >
        ✔ Chain verified: <b>${v.entries}</b> entries, head #${v.head.seq}
        <code>${v.head.hash.slice(0, 16)}…</code>
      </p>`
    : html`<p class="verification broken" data-ok="false" data-broken-seq="${v.firstBroken?.seq ?? ''}">
        ✘ Chain broken at #${v.firstBroken?.seq ?? '?'}: ${v.firstBroken?.reason ?? ''} —
        ${v.firstBroken?.message ?? ''}
      </p>`;
}

const rows = (ctx: AccountContext, entries: AuditEntry[]): Html[] =>
  entries.map(
    (e) =>
      html`<tr data-seq="${e.seq}" data-action="${e.action}">
        <td class="num">${e.seq}</td>
        <td>${utcTime(e.time)}</td>
        <td class="action">${e.action}</td>
        <td>${e.actor.type}: <code>${e.actor.id}</code></td>
        <td>${e.tenantId ? ctx.directory.name(e.tenantId) : ''}</td>
        <td>${e.target.type} <code>${e.target.id}</code></td>
        <td><code>${e.hash.slice(0, 12)}</code></td>
      </tr>`,
  );

/** The account's audit log, newest first, with the chain's verification. */
export async function renderAudit(ctx: AccountContext, host: ViewHost): Promise<void> {
  await host.run(async (): Promise<ViewState> => {
    const accountId = ctx.account.id;
    const [verified, page] = await Promise.all([
      ctx.api.get<AuditVerification>('audit', '/v1/audit/verify', { accountId }),
      ctx.api.get<{ entries: AuditEntry[]; nextCursor: string | null }>('audit', '/v1/audit', {
        accountId,
        limit: PAGE,
      }),
    ]);
    host.body.innerHTML = html`${verification(verified)}
      <table class="audit-log">
        ${headRow(['#', 'Time', 'Action', 'Actor', 'Tenant', 'Target', 'Hash'])}
        <tbody>
          ${rows(ctx, page.entries)}
        </tbody>
      </table>
      <button type="button" class="more" ${page.nextCursor ? '' : html`hidden`}>Older entries</button>`.value;
    const tbody = host.body.querySelector<HTMLElement>('tbody')!;
    const more = host.body.querySelector<HTMLButtonElement>('button.more')!;
    let cursor = page.nextCursor;
    more.addEventListener('click', () => {
      void host.run(async (): Promise<ViewState> => {
        const next = await ctx.api.get<{ entries: AuditEntry[]; nextCursor: string | null }>(
          'audit',
          '/v1/audit',
          {
            accountId,
            limit: PAGE,
            cursor: cursor ?? undefined,
          },
        );
        tbody.insertAdjacentHTML('beforeend', html`${rows(ctx, next.entries)}`.value);
        cursor = next.nextCursor;
        more.hidden = !cursor;
        return 'ready';
      });
    });
    return page.entries.length ? 'ready' : 'empty';
  });
}
