/// <reference lib="dom" />
import { Api, ApiError } from './api';
import { html } from './html';
import type { Account, Meter, Page, Quotas } from './types';
import { renderAudit } from './views/audit';
import type { ViewHost } from './views/chart-view';
import { tenantDirectory, type AccountContext, type ViewState } from './views/context';
import { renderInvoices } from './views/invoices';
import { renderPeak } from './views/peak';
import { renderQuotas } from './views/quotas';
import { allTenants, renderTenants } from './views/tenants';
import { renderUsage } from './views/usage';

/** The management key lives for the browser tab only. */
const KEY_STORAGE = 'metering.dashboard.key';
type ViewName = 'quotas' | 'usage' | 'peak' | 'invoices' | 'tenants' | 'audit';

const $ = <T extends Element = HTMLElement>(selector: string): T => {
  const el = document.querySelector<T>(selector);
  if (!el) throw new Error(`page has no ${selector}`);
  return el;
};

const describe = (err: unknown): string =>
  err instanceof ApiError
    ? `${err.message} (${err.status} ${err.code})`
    : err instanceof Error
      ? err.message
      : String(err);

/** A fresh body for a view's section, so loads of a previous account write into nothing. */
function viewHost(name: ViewName): ViewHost {
  const section = $(`section[data-view="${name}"]`);
  const error = section.querySelector<HTMLElement>('.error')!;
  const body = document.createElement('div');
  body.className = 'body';
  section.querySelector('.body')!.replaceWith(body);
  error.hidden = true;
  return {
    body,
    run: async (load) => {
      const current = () => section.contains(body);
      section.dataset.state = 'loading';
      error.hidden = true;
      try {
        const state: ViewState = await load();
        if (current()) section.dataset.state = state;
      } catch (err) {
        if (!current()) return;
        section.dataset.state = 'error';
        error.textContent = describe(err);
        error.hidden = false;
      }
    },
  };
}

class Dashboard {
  private api?: Api;
  private accounts: Account[] = [];
  private accountsCursor: string | null = null;
  private meters?: Meter[];
  private current?: string;

  start(): void {
    $('#key-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = $<HTMLInputElement>('#key-input');
      const key = input.value.trim();
      input.value = '';
      if (key) {
        sessionStorage.setItem(KEY_STORAGE, key);
        void this.signIn(key);
      }
    });
    $('#forget-key').addEventListener('click', () => this.signOut());
    $('#account-select').addEventListener('change', (e) => {
      const id = (e.target as HTMLSelectElement).value;
      if (id) location.hash = `account=${encodeURIComponent(id)}`;
    });
    $('#more-accounts').addEventListener(
      'click',
      () => void this.loadAccounts().catch((err) => this.fail(err)),
    );
    window.addEventListener('hashchange', () => void this.openFromHash());
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) void this.signIn(key);
    else this.showSignIn();
  }

  private showSignIn(message?: string): void {
    $('#sign-in').hidden = false;
    $('#account-bar').hidden = true;
    $('#views').hidden = true;
    $('#session').hidden = true;
    const note = $('#sign-in-error');
    note.textContent = message ?? '';
    note.hidden = !message;
  }

  private signOut(): void {
    sessionStorage.removeItem(KEY_STORAGE);
    this.api = undefined;
    this.accounts = [];
    this.current = undefined;
    this.showSignIn();
  }

  private async signIn(key: string): Promise<void> {
    this.api = new Api(key);
    this.accounts = [];
    this.accountsCursor = null;
    try {
      await this.loadAccounts();
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        sessionStorage.removeItem(KEY_STORAGE);
        this.showSignIn(`The key was refused: ${describe(err)}`);
        return;
      }
      this.fail(err);
      return;
    }
    $('#sign-in').hidden = true;
    $('#session').hidden = false;
    $('#key-prefix').textContent = `${key.slice(0, 15)}…`;
    $('#account-bar').hidden = false;
    if (!this.accountFromHash() && this.accounts.length === 1 && !this.accountsCursor) {
      location.hash = `account=${encodeURIComponent(this.accounts[0].id)}`;
      return;
    }
    await this.openFromHash();
  }

  /** Accounts the key may read: every account for platform admins (paged), else its own. */
  private async loadAccounts(): Promise<void> {
    const page = await this.api!.get<Page<Account>>('tenant-registry', '/v1/accounts', {
      limit: 100,
      cursor: this.accountsCursor ?? undefined,
    });
    this.accounts.push(...page.items.filter((a) => !this.accounts.some((b) => b.id === a.id)));
    this.accountsCursor = page.nextCursor;
    this.renderAccountChoices();
  }

  private renderAccountChoices(): void {
    const chosen = this.current ?? this.accountFromHash() ?? '';
    $('#account-select').innerHTML = html`<option value="">Choose an account…</option>
      ${this.accounts.map(
        (a) =>
          html`<option value="${a.id}" ${a.id === chosen ? html`selected` : ''}>${a.name} (${a.id})</option>`,
      )}`.value;
    $('#more-accounts').hidden = !this.accountsCursor;
  }

  private accountFromHash(): string | undefined {
    const id = new URLSearchParams(location.hash.slice(1)).get('account');
    return id || undefined;
  }

  private fail(err: unknown): void {
    const banner = $('#page-error');
    banner.textContent = describe(err);
    banner.hidden = false;
  }

  private async openFromHash(): Promise<void> {
    const id = this.accountFromHash();
    if (!this.api || !id) return;
    $('#page-error').hidden = true;
    try {
      await this.openAccount(this.api, id);
    } catch (err) {
      $('#views').hidden = true;
      this.fail(err);
    }
  }

  private async openAccount(api: Api, accountId: string): Promise<void> {
    const path = `/v1/accounts/${encodeURIComponent(accountId)}`;
    const [account, tenants, meters, quotas] = await Promise.all([
      this.accounts.find((a) => a.id === accountId) ?? api.get<Account>('tenant-registry', path),
      allTenants({ api }, accountId),
      this.meters ?? api.get<{ meters: Meter[] }>('aggregation', '/v1/meters').then((m) => m.meters),
      api.get<Quotas>('aggregation', `${path}/quotas`).catch((err: Error) => err),
    ]);
    this.meters = meters;
    this.current = account.id;
    if (!this.accounts.some((a) => a.id === account.id)) this.accounts.push(account);
    this.renderAccountChoices();
    $('#account-info').innerHTML = html`<b>${account.name}</b> <code>${account.id}</code> ·
      ${account.currency} · ${account.timezone} · ${account.status}`.value;
    const ctx: AccountContext = {
      api,
      account,
      tenants,
      directory: tenantDirectory(tenants),
      meters,
      quotas,
    };
    $('#views').hidden = false;
    const sync = (name: ViewName, render: (ctx: AccountContext, body: HTMLElement) => ViewState) => {
      const host = viewHost(name);
      return host.run(() => render(ctx, host.body));
    };
    await Promise.all([
      sync('quotas', renderQuotas),
      sync('tenants', renderTenants),
      renderUsage(ctx, viewHost('usage')),
      renderPeak(ctx, viewHost('peak')),
      renderInvoices(ctx, viewHost('invoices')),
      renderAudit(ctx, viewHost('audit')),
    ]);
  }
}

new Dashboard().start();
