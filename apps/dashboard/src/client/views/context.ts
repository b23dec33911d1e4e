import type { Api } from '../api';
import { swatch } from '../charts';
import type { TenantDirectory } from '../figures';
import { html, type Html } from '../html';
import { TenantColours } from '../palette';
import type { Account, Meter, Quotas, Tenant } from '../types';

/** What every view of one account reads, loaded once when the account is chosen. */
export interface AccountContext {
  api: Api;
  account: Account;
  tenants: Tenant[];
  directory: TenantDirectory;
  meters: Meter[];
  /** The current period's quotas, or why there are none (e.g. no subscription). */
  quotas: Quotas | Error;
}

/** The outcome a view reports on its section (`data-state`), for people and tests alike. */
export type ViewState = 'ready' | 'empty';

export function tenantDirectory(tenants: readonly Tenant[]): TenantDirectory {
  const colours = new TenantColours(tenants.map((t) => t.id));
  const index = new Map(tenants.map((t, i) => [t.id, { name: t.name, order: i }]));
  return {
    name: (id) => index.get(id)?.name ?? id,
    colour: (id) => colours.of(id),
    order: (id) => index.get(id)?.order ?? Number.MAX_SAFE_INTEGER,
  };
}

export const meterOf = (ctx: AccountContext, key: string): Meter | undefined =>
  ctx.meters.find((m) => m.key === key);

export function meterName(ctx: AccountContext, key: string): string {
  return meterOf(ctx, key)?.name ?? key;
}

export const unitOf = (ctx: AccountContext, key: string): string => meterOf(ctx, key)?.unit ?? '';

/** `2025-03-01 14:05 UTC` */
export const utcTime = (isoTime: string): string => `${isoTime.slice(0, 10)} ${isoTime.slice(11, 16)} UTC`;

export const badge = (status: string): Html => html`<span class="badge badge-${status}">${status}</span>`;

/** A legend of the tenants that appear, in the tenant list's order. */
export function legend(ctx: AccountContext, tenantIds: Iterable<string>): Html {
  const ids = [...new Set(tenantIds)].sort((a, b) => ctx.directory.order(a) - ctx.directory.order(b));
  return html`<div class="legend">
    ${ids.map((id) => swatch(ctx.directory.colour(id), ctx.directory.name(id)))}
  </div>`;
}

/** A `<select>`'s options, the chosen one selected. */
export const options = (choices: readonly (readonly [string, string])[], chosen: string): Html[] =>
  choices.map(
    ([value, label]) =>
      html`<option value="${value}" ${value === chosen ? html`selected` : ''}>${label}</option>`,
  );

/** A table's head row. */
export const headRow = (columns: readonly string[]): Html =>
  html`<thead>
    <tr>
      ${columns.map((c) => html`<th>${c}</th>`)}
    </tr>
  </thead>`;
