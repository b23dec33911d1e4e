import { randomBytes } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type { Actor } from '@metering/contracts';
import {
  handleCommand,
  type AccountScope,
  type EventContext,
  type EventStore,
  type NewEvent,
  type StoredEvent,
} from '@metering/event-store';
import {
  RegistryError,
  RegistryErrorCode,
  applyTemplate,
  checkTemplate,
  decideAccount,
  decideTenant,
  evolveAccount,
  evolveTenant,
  hashSecret,
  initialAccount,
  initialTenant,
  issueSecret,
  secretId,
  secretMatches,
  type AccountCommand,
  type AccountEvent,
  type AccountSettings,
  type AccountState,
  type ApiKeyScope,
  type Features,
  type Limits,
  type Placement,
  type Role,
  type TemplateSpec,
  type TenantCommand,
  type TenantEvent,
  type TenantProfile,
  type TenantState,
} from '@metering/registry-domain';
import { registryProjection } from './projection';

/** Who is acting and what they may see. Every store method takes it first. */
export interface Caller {
  scope: AccountScope;
  actor: Actor;
  correlationId?: string;
}

export const PLATFORM_ACCOUNT = '_platform';

export interface AccountView extends AccountSettings {
  id: string;
  status: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface TenantView {
  id: string;
  accountId: string;
  name: string;
  status: string;
  profile: TenantProfile;
  placement: Placement;
  limits: Limits;
  features: Features;
  templateId: string | null;
  retentionDays: number;
  deletedAt: string | null;
  purgeAfter: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface ApiKeyView {
  id: string;
  tenantId: string;
  prefix: string;
  scopes: ApiKeyScope[];
  name: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface NewTenant {
  tenantId?: string;
  name: string;
  templateId?: string;
  profile?: TenantProfile;
  placement?: Placement;
  limits?: Limits;
  features?: Features;
  retentionDays?: number;
}

export interface KeyVerification {
  valid: boolean;
  keyId?: string;
  tenantId?: string;
  accountId?: string;
  scopes?: ApiKeyScope[];
  tenantStatus?: string;
  reason?: string;
}

export interface ManagementPrincipal {
  keyId: string;
  role: Role;
  accountId: string | null;
}

const iso = (v: Date | null): string | null => (v ? v.toISOString() : null);
const newId = (prefix: string) => `${prefix}_${randomBytes(10).toString('base64url').replace(/[-_]/g, 'x')}`;

type Row = Record<string, unknown>;

const toAccount = (r: Row): AccountView => ({
  id: r.id as string,
  name: r.name as string,
  currency: r.currency as string,
  timezone: r.timezone as string,
  billingAnchorDay: r.billing_anchor_day as number,
  status: r.status as string,
  version: r.version as number,
  createdAt: (r.created_at as Date).toISOString(),
  updatedAt: (r.updated_at as Date).toISOString(),
});

const toTenant = (r: Row): TenantView => ({
  id: r.id as string,
  accountId: r.account_id as string,
  name: r.name as string,
  status: r.status as string,
  profile: r.profile as TenantProfile,
  placement: r.placement as Placement,
  limits: r.limits as Limits,
  features: r.features as Features,
  templateId: (r.template_id as string | null) ?? null,
  retentionDays: r.retention_days as number,
  deletedAt: iso(r.deleted_at as Date | null),
  purgeAfter: iso(r.purge_after as Date | null),
  version: r.version as number,
  createdAt: (r.created_at as Date).toISOString(),
  updatedAt: (r.updated_at as Date).toISOString(),
});

const toApiKey = (r: Row): ApiKeyView => ({
  id: r.id as string,
  tenantId: r.tenant_id as string,
  prefix: r.prefix as string,
  scopes: r.scopes as ApiKeyScope[],
  name: r.name as string,
  createdAt: (r.created_at as Date).toISOString(),
  expiresAt: iso(r.expires_at as Date | null),
  revokedAt: iso(r.revoked_at as Date | null),
});

const accountDecider = { initialState: initialAccount, decide: decideAccount, evolve: evolveAccount };
const tenantDecider = { initialState: initialTenant, decide: decideTenant, evolve: evolveTenant };

/**
 * The registry's use cases over the event store. Every write decides on the aggregate's events,
 * appends them at the version it read and updates the read models in the same transaction;
 * every read runs under row-level security for the caller's account, so another account's
 * object is simply not found.
 */
export class RegistryStore {
  constructor(private readonly store: EventStore) {}

  /** Calls `listener` with each committed write's events (cache invalidation, relay wake-up). */
  onCommitted(listener: (events: StoredEvent[]) => void): void {
    this.store.onCommitted(listener);
  }

  private ctx(caller: Caller, accountId: string): EventContext {
    return {
      accountId,
      actor: caller.actor,
      ...(caller.correlationId ? { correlationId: caller.correlationId } : {}),
    };
  }

  private project = (tx: EntityManager, events: StoredEvent[]) => registryProjection.apply(tx, events);

  /** Appends events to a stream that is not an aggregate with rules (keys, templates). */
  private async record(
    tx: EntityManager,
    caller: Caller,
    accountId: string,
    streamId: string,
    streamType: string,
    expectedVersion: number,
    events: NewEvent[],
  ) {
    const stored = await this.store.append(tx, {
      streamId,
      streamType,
      expectedVersion,
      events,
      context: this.ctx(caller, accountId),
    });
    await this.project(tx, stored);
    return stored;
  }

  // ---------------------------------------------------------------- accounts

  async createAccount(caller: Caller, settings: AccountSettings): Promise<AccountView> {
    const id = newId('acc');
    return this.store.inScope(caller.scope, async (tx) => {
      await handleCommand<AccountCommand, AccountEvent, AccountState>(this.store, tx, accountDecider, {
        streamId: id,
        streamType: 'account',
        command: { kind: 'create', settings },
        context: this.ctx(caller, id),
        project: this.project,
      });
      return this.accountIn(tx, id);
    });
  }

  async updateAccount(
    caller: Caller,
    id: string,
    changes: AccountCommand & { kind: 'update' },
  ): Promise<AccountView> {
    return this.store.inScope(caller.scope, async (tx) => {
      await this.accountIn(tx, id);
      await handleCommand<AccountCommand, AccountEvent, AccountState>(this.store, tx, accountDecider, {
        streamId: id,
        streamType: 'account',
        command: changes,
        context: this.ctx(caller, id),
        project: this.project,
      });
      return this.accountIn(tx, id);
    });
  }

  getAccount(caller: Caller, id: string): Promise<AccountView> {
    return this.store.inScope(caller.scope, (tx) => this.accountIn(tx, id));
  }

  listAccounts(caller: Caller, cursor: string | undefined, limit: number): Promise<Page<AccountView>> {
    return this.store.inScope(caller.scope, async (tx) => {
      const rows = await tx.query<Row[]>(`SELECT * FROM accounts WHERE id > $1 ORDER BY id LIMIT $2`, [
        cursor ?? '',
        limit + 1,
      ]);
      return page(rows.map(toAccount), limit);
    });
  }

  private async accountIn(tx: EntityManager, id: string): Promise<AccountView> {
    const [row] = await tx.query<Row[]>(`SELECT * FROM accounts WHERE id = $1`, [id]);
    if (!row) throw new RegistryError(RegistryErrorCode.ACCOUNT_NOT_FOUND, `no account ${id}`);
    return toAccount(row);
  }

  // ----------------------------------------------------------------- tenants

  async createTenants(caller: Caller, accountId: string, inputs: NewTenant[]): Promise<TenantView[]> {
    return this.store.inScope(caller.scope, async (tx) => {
      await this.accountIn(tx, accountId);
      const templates = new Map<string, TemplateSpec>();
      const created: TenantView[] = [];
      for (const input of inputs) {
        let template: TemplateSpec | undefined;
        if (input.templateId) {
          template = templates.get(input.templateId) ?? (await this.templateIn(tx, input.templateId));
          templates.set(input.templateId, template);
        }
        const merged = applyTemplate(template, input);
        const id = input.tenantId ?? newId('ten');
        const spec = {
          name: input.name,
          profile: input.profile ?? {},
          placement: merged.placement ?? {
            deploymentModel: 'multi-tenant' as const,
            hosting: 'platform' as const,
          },
          limits: merged.limits,
          features: merged.features,
          retentionDays: merged.retentionDays ?? 30,
          ...(input.templateId ? { templateId: input.templateId } : {}),
        };
        await this.tenantCommand(tx, caller, accountId, id, { kind: 'create', spec });
        created.push(await this.tenantIn(tx, id));
      }
      return created;
    });
  }

  /** Runs a tenant command; the tenant's account comes from its stream (scope-checked). */
  async changeTenant(
    caller: Caller,
    id: string,
    command: Exclude<TenantCommand, { kind: 'create' }>,
  ): Promise<TenantView> {
    return this.store.inScope(caller.scope, async (tx) => {
      const tenant = await this.tenantIn(tx, id);
      const events = await this.tenantCommand(tx, caller, tenant.accountId, id, command);
      if (events.some((e) => e.type === 'tenant.deleted')) await this.revokeTenantKeys(tx, caller, tenant);
      return this.tenantIn(tx, id);
    });
  }

  private async tenantCommand(
    tx: EntityManager,
    caller: Caller,
    accountId: string,
    id: string,
    command: TenantCommand,
  ) {
    const { events } = await handleCommand<TenantCommand, TenantEvent & { tenantId?: string }, TenantState>(
      this.store,
      tx,
      {
        initialState: tenantDecider.initialState,
        decide: (c, s) => tenantDecider.decide(c, s).map((e) => ({ ...e, tenantId: id })),
        evolve: (s, e) => tenantDecider.evolve(s, e),
      },
      {
        streamId: id,
        streamType: 'tenant',
        command,
        context: this.ctx(caller, accountId),
        project: this.project,
      },
    );
    return events;
  }

  getTenant(caller: Caller, id: string): Promise<TenantView> {
    return this.store.inScope(caller.scope, (tx) => this.tenantIn(tx, id));
  }

  listTenants(
    caller: Caller,
    accountId: string,
    filter: { status?: string; cursor?: string; limit: number },
  ): Promise<Page<TenantView>> {
    return this.store.inScope(caller.scope, async (tx) => {
      await this.accountIn(tx, accountId);
      const rows = await tx.query<Row[]>(
        `SELECT * FROM tenants WHERE account_id = $1 AND id > $2 AND ($3::text IS NULL OR status = $3)
         ORDER BY id LIMIT $4`,
        [accountId, filter.cursor ?? '', filter.status ?? null, filter.limit + 1],
      );
      return page(rows.map(toTenant), filter.limit);
    });
  }

  tenantHistory(caller: Caller, id: string): Promise<StoredEvent[]> {
    return this.store.inScope(caller.scope, async (tx) => {
      await this.tenantIn(tx, id);
      return this.store.readStream(tx, id);
    });
  }

  private async tenantIn(tx: EntityManager, id: string): Promise<TenantView> {
    const [row] = await tx.query<Row[]>(`SELECT * FROM tenants WHERE id = $1`, [id]);
    if (!row) throw new RegistryError(RegistryErrorCode.TENANT_NOT_FOUND, `no tenant ${id}`);
    return toTenant(row);
  }

  /** Tenants whose retention ended by `now` are purged (system job, every account). */
  async purgeDue(caller: Caller, now: Date): Promise<string[]> {
    const due = await this.store.inScope(caller.scope, (tx) =>
      tx.query<{ id: string }[]>(
        `SELECT id FROM tenants WHERE status = 'deleted' AND purge_after <= $1 ORDER BY id LIMIT 500`,
        [now],
      ),
    );
    const purged: string[] = [];
    for (const { id } of due) {
      await this.changeTenant(caller, id, { kind: 'purge', at: now.toISOString() });
      purged.push(id);
    }
    return purged;
  }

  // --------------------------------------------------------------- templates

  createTemplate(
    caller: Caller,
    accountId: string,
    spec: TemplateSpec,
  ): Promise<TemplateSpec & { id: string }> {
    const checked = checkTemplate(spec);
    const id = newId('tpl');
    return this.store.inScope(caller.scope, async (tx) => {
      await this.accountIn(tx, accountId);
      await this.record(tx, caller, accountId, id, 'template', 0, [
        { type: 'template.created', data: { ...checked } },
      ]);
      return { id, ...(await this.templateIn(tx, id)) };
    });
  }

  listTemplates(
    caller: Caller,
    accountId: string | undefined,
  ): Promise<(TemplateSpec & { id: string; accountId: string })[]> {
    return this.store.inScope(caller.scope, async (tx) => {
      const rows = await tx.query<Row[]>(
        `SELECT id, account_id, spec FROM templates WHERE ($1::text IS NULL OR account_id = $1) ORDER BY id`,
        [accountId ?? null],
      );
      return rows.map((r) => ({
        id: r.id as string,
        accountId: r.account_id as string,
        ...(r.spec as TemplateSpec),
      }));
    });
  }

  private async templateIn(tx: EntityManager, id: string): Promise<TemplateSpec> {
    const [row] = await tx.query<Row[]>(`SELECT spec FROM templates WHERE id = $1`, [id]);
    if (!row)
      throw new RegistryError(RegistryErrorCode.TEMPLATE_NOT_FOUND, `no template ${id}`, {
        field: 'templateId',
      });
    return row.spec as TemplateSpec;
  }

  // ---------------------------------------------------------------- API keys

  /** Issues a tenant API key. The secret is in the answer only; the store keeps its hash. */
  issueApiKey(
    caller: Caller,
    tenantId: string,
    input: { scopes: ApiKeyScope[]; name: string },
  ): Promise<ApiKeyView & { secret: string }> {
    return this.store.inScope(caller.scope, async (tx) => {
      const tenant = await this.tenantIn(tx, tenantId);
      if (tenant.status === 'deleted' || tenant.status === 'purged') {
        throw new RegistryError(RegistryErrorCode.TENANT_DELETED, 'the tenant is deleted');
      }
      const issued = issueSecret('ak');
      await this.record(tx, caller, tenant.accountId, issued.prefix, 'api_key', 0, [
        {
          type: 'api_key.issued',
          tenantId,
          data: { keyId: issued.prefix, scopes: input.scopes, name: input.name, secretHash: issued.hash },
        },
      ]);
      return { ...(await this.apiKeyIn(tx, issued.prefix)), secret: issued.secret };
    });
  }

  listApiKeys(caller: Caller, tenantId: string): Promise<ApiKeyView[]> {
    return this.store.inScope(caller.scope, async (tx) => {
      await this.tenantIn(tx, tenantId);
      const rows = await tx.query<Row[]>(
        `SELECT * FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id`,
        [tenantId],
      );
      return rows.map(toApiKey);
    });
  }

  /** A new key with the same scopes; the old one keeps working for `overlapSeconds`. */
  rotateApiKey(
    caller: Caller,
    keyId: string,
    overlapSeconds: number,
  ): Promise<ApiKeyView & { secret: string }> {
    return this.store.inScope(caller.scope, async (tx) => {
      const old = await this.apiKeyIn(tx, keyId);
      if (old.revokedAt) throw new RegistryError(RegistryErrorCode.API_KEY_REVOKED, 'the key is revoked');
      const tenant = await this.tenantIn(tx, old.tenantId);
      const version = await this.store.currentVersion(tx, keyId);
      const expiresAt = new Date(Date.now() + overlapSeconds * 1000).toISOString();
      await this.record(tx, caller, tenant.accountId, keyId, 'api_key', version, [
        { type: 'api_key.expiry_set', tenantId: old.tenantId, data: { keyId, expiresAt, reason: 'rotated' } },
      ]);
      const issued = issueSecret('ak');
      await this.record(tx, caller, tenant.accountId, issued.prefix, 'api_key', 0, [
        {
          type: 'api_key.issued',
          tenantId: old.tenantId,
          data: {
            keyId: issued.prefix,
            scopes: old.scopes,
            name: old.name,
            secretHash: issued.hash,
            rotatedFrom: keyId,
          },
        },
      ]);
      return { ...(await this.apiKeyIn(tx, issued.prefix)), secret: issued.secret };
    });
  }

  revokeApiKey(caller: Caller, keyId: string): Promise<ApiKeyView> {
    return this.store.inScope(caller.scope, async (tx) => {
      const key = await this.apiKeyIn(tx, keyId);
      if (!key.revokedAt) {
        const [row] = await tx.query<{ account_id: string }[]>(
          `SELECT account_id FROM api_keys WHERE id = $1`,
          [keyId],
        );
        const version = await this.store.currentVersion(tx, keyId);
        await this.record(tx, caller, row.account_id, keyId, 'api_key', version, [
          {
            type: 'api_key.revoked',
            tenantId: key.tenantId,
            data: { keyId, revokedAt: new Date().toISOString() },
          },
        ]);
      }
      return this.apiKeyIn(tx, keyId);
    });
  }

  private async revokeTenantKeys(tx: EntityManager, caller: Caller, tenant: TenantView): Promise<void> {
    const keys = await tx.query<{ id: string }[]>(
      `SELECT id FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL`,
      [tenant.id],
    );
    for (const { id } of keys) {
      const version = await this.store.currentVersion(tx, id);
      await this.record(tx, caller, tenant.accountId, id, 'api_key', version, [
        {
          type: 'api_key.revoked',
          tenantId: tenant.id,
          data: { keyId: id, revokedAt: new Date().toISOString(), reason: 'tenant deleted' },
        },
      ]);
    }
  }

  private async apiKeyIn(tx: EntityManager, id: string): Promise<ApiKeyView> {
    const [row] = await tx.query<Row[]>(`SELECT * FROM api_keys WHERE id = $1`, [id]);
    if (!row) throw new RegistryError(RegistryErrorCode.API_KEY_NOT_FOUND, `no API key ${id}`);
    return toApiKey(row);
  }

  /** Checks a presented tenant key (system scope): hash, expiry, revocation, scope, tenant state. */
  verifyApiKey(
    secret: string,
    requiredScope: ApiKeyScope | undefined,
    now = new Date(),
  ): Promise<KeyVerification> {
    const id = secretId(secret, 'ak');
    if (!id) return Promise.resolve({ valid: false, reason: 'malformed' });
    return this.store.inScope('all-accounts', async (tx) => {
      const [row] = await tx.query<Row[]>(
        `SELECT k.*, t.status AS tenant_status FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = $1`,
        [`ak_${id}`],
      );
      if (!row || !secretMatches(secret, row.secret_hash as string))
        return { valid: false, reason: 'unknown' };
      const base = {
        keyId: row.id as string,
        tenantId: row.tenant_id as string,
        accountId: row.account_id as string,
        scopes: row.scopes as ApiKeyScope[],
        tenantStatus: row.tenant_status as string,
      };
      if (row.revoked_at) return { valid: false, ...base, reason: 'revoked' };
      if (row.expires_at && (row.expires_at as Date) <= now)
        return { valid: false, ...base, reason: 'expired' };
      if (requiredScope && !base.scopes.includes(requiredScope))
        return { valid: false, ...base, reason: 'scope' };
      return { valid: true, ...base };
    });
  }

  // --------------------------------------------------------- management keys

  issueManagementKey(
    caller: Caller,
    accountId: string | null,
    input: { role: Role; name: string },
  ): Promise<{ id: string; role: Role; accountId: string | null; name: string; secret: string }> {
    const owner = accountId ?? PLATFORM_ACCOUNT;
    return this.store.inScope(caller.scope, async (tx) => {
      if (accountId) await this.accountIn(tx, accountId);
      const issued = issueSecret('mk');
      await this.record(tx, caller, owner, issued.prefix, 'management_key', 0, [
        {
          type: 'management_key.issued',
          data: { keyId: issued.prefix, role: input.role, name: input.name, secretHash: issued.hash },
        },
      ]);
      return { id: issued.prefix, role: input.role, accountId, name: input.name, secret: issued.secret };
    });
  }

  listManagementKeys(
    caller: Caller,
    accountId: string,
  ): Promise<{ id: string; role: string; name: string; createdAt: string; revokedAt: string | null }[]> {
    return this.store.inScope(caller.scope, async (tx) => {
      await this.accountIn(tx, accountId);
      const rows = await tx.query<Row[]>(
        `SELECT * FROM management_keys WHERE account_id = $1 ORDER BY created_at, id`,
        [accountId],
      );
      return rows.map((r) => ({
        id: r.id as string,
        role: r.role as string,
        name: r.name as string,
        createdAt: (r.created_at as Date).toISOString(),
        revokedAt: iso(r.revoked_at as Date | null),
      }));
    });
  }

  /** The principal behind a presented management key, or undefined. */
  authenticate(secret: string): Promise<ManagementPrincipal | undefined> {
    const id = secretId(secret, 'mk');
    if (!id) return Promise.resolve(undefined);
    return this.store.inScope('all-accounts', async (tx) => {
      const [row] = await tx.query<Row[]>(
        `SELECT * FROM management_keys WHERE id = $1 AND revoked_at IS NULL`,
        [`mk_${id}`],
      );
      if (!row || !secretMatches(secret, row.secret_hash as string)) return undefined;
      const accountId = row.account_id as string;
      return {
        keyId: row.id as string,
        role: row.role as Role,
        accountId: accountId === PLATFORM_ACCOUNT ? null : accountId,
      };
    });
  }

  /** Ensures a platform-admin key with this exact secret exists (bootstrap credential). */
  async ensurePlatformAdmin(secret: string): Promise<boolean> {
    const id = secretId(secret, 'mk');
    if (!id) throw new Error('bootstrap admin key must look like mk_<12 chars>_<43 chars>');
    return this.store.inScope('all-accounts', async (tx) => {
      const [row] = await tx.query<Row[]>(`SELECT secret_hash FROM management_keys WHERE id = $1`, [
        `mk_${id}`,
      ]);
      if (row) return false;
      const system: Caller = { scope: 'all-accounts', actor: { type: 'system', id: 'bootstrap' } };
      await this.record(tx, system, PLATFORM_ACCOUNT, `mk_${id}`, 'management_key', 0, [
        {
          type: 'management_key.issued',
          data: {
            keyId: `mk_${id}`,
            role: 'platform-admin',
            name: 'bootstrap',
            secretHash: hashSecret(secret),
          },
        },
      ]);
      return true;
    });
  }

  async hasPlatformAdmin(): Promise<boolean> {
    return this.store.inScope('all-accounts', async (tx) => {
      const rows = await tx.query<Row[]>(
        `SELECT 1 FROM management_keys WHERE role = 'platform-admin' AND revoked_at IS NULL LIMIT 1`,
      );
      return rows.length > 0;
    });
  }
}

function page<T extends { id: string }>(rows: T[], limit: number): Page<T> {
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? items[items.length - 1].id : null };
}
