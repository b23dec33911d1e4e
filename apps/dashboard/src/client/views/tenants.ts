/// <reference lib="dom" />
import { swatch } from '../charts';
import { html } from '../html';
import type { Tenant } from '../types';
import { badge, utcTime, type AccountContext, type ViewState, headRow } from './context';

const MAX_PAGES = 20;

/** Every tenant of the account, in the registry's order (following `nextCursor`). */
export async function allTenants(ctx: Pick<AccountContext, 'api'>, accountId: string): Promise<Tenant[]> {
  const tenants: Tenant[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const body = await ctx.api.get<{ items: Tenant[]; nextCursor: string | null }>(
      'tenant-registry',
      `/v1/accounts/${encodeURIComponent(accountId)}/tenants`,
      { limit: 500, cursor },
    );
    tenants.push(...body.items);
    if (!body.nextCursor) break;
    cursor = body.nextCursor;
  }
  return tenants;
}

/** The tenant list: status, capability limits and placement. */
export function renderTenants(ctx: AccountContext, body: HTMLElement): ViewState {
  const counts = new Map<string, number>();
  for (const t of ctx.tenants) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  body.innerHTML = html`<p class="sub counts">
      ${ctx.tenants.length}
      tenants${[...counts].map(([status, n]) => html` · <span data-status="${status}">${n} ${status}</span>`)}
    </p>
    <table class="tenant-list">
      ${headRow(['Tenant', 'Id', 'Status', 'Limits', 'Placement', 'Created'])}
      <tbody>
        ${ctx.tenants.map(
          (t) =>
            html`<tr data-tenant="${t.id}" data-status="${t.status}">
              <td class="name">${swatch(ctx.directory.colour(t.id), t.name)}</td>
              <td class="id"><code>${t.id}</code></td>
              <td class="status">${badge(t.status)}</td>
              <td class="limits">
                ${Object.entries(t.limits)
                  .sort(([a], [b]) => a.localeCompare(b))
                  .map(
                    ([k, v]) =>
                      html`<span class="limit" data-limit="${k}" data-value="${v}">${k} ${v}</span>`,
                  )}
              </td>
              <td class="placement">
                ${[t.placement.deploymentModel, t.placement.hosting, t.placement.cell].filter(Boolean).join(' · ')}
              </td>
              <td>${utcTime(t.createdAt)}</td>
            </tr>`,
        )}
      </tbody>
    </table>`.value;
  return ctx.tenants.length ? 'ready' : 'empty';
}
