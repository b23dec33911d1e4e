import type { DataSource } from 'typeorm';
import { EventStore, rebuildProjection } from '@metering/event-store';
import { createDataSource, databaseName, openDatabase, urlForRole } from '@metering/persistence';
import { stackVar, uniqueName } from '@metering/testing';
import { READ_MODEL_TABLES, registryMigrations } from './migrations';
import { registryProjection } from './projection';
import { RegistryStore, type Caller } from './registry.store';

const ROLE = { name: 'registry_it_app', password: 'registry_it_app' };
const admin: Caller = {
  scope: 'all-accounts',
  actor: { type: 'management-key', id: 'mk_test' },
  correlationId: 'c-1',
};

describe(RegistryStore.name, () => {
  let owner: DataSource;
  let app: DataSource;
  let registry: RegistryStore;
  let ownerStore: EventStore;
  const dbUrl = `${stackVar('POSTGRES_URL')}/${uniqueName('it_registry').toLowerCase()}`;

  beforeAll(async () => {
    owner = await openDatabase({
      url: dbUrl,
      migrations: registryMigrations({ appRole: ROLE.name, appPassword: ROLE.password }),
    });
    app = createDataSource({ url: urlForRole(dbUrl, ROLE), poolSize: 4 });
    await app.initialize();
    const options = { source: 'it', topic: 'registry.events.v1' };
    registry = new RegistryStore(new EventStore(app, options));
    ownerStore = new EventStore(owner, options);
  });

  afterAll(async () => {
    await app.destroy();
    await owner.destroy();
    const server = createDataSource({ url: `${stackVar('POSTGRES_URL')}/postgres` });
    await server.initialize();
    await server.query(`DROP DATABASE IF EXISTS "${databaseName(dbUrl)}" WITH (FORCE)`);
    await server.destroy();
  });

  const settings = { name: 'Vendor', currency: 'EUR', timezone: 'Europe/Berlin', billingAnchorDay: 1 };

  it('rebuilds every read model from the events equal to the live ones', async () => {
    for (const name of ['A', 'B']) {
      const account = await registry.createAccount(admin, { ...settings, name });
      await registry.updateAccount(admin, account.id, { kind: 'update', changes: { billingAnchorDay: 15 } });
      const template = await registry.createTemplate(admin, account.id, {
        name: 'std',
        limits: { maxAgents: 5 },
        features: { ai: true },
      });
      const tenants = await registry.createTenants(
        admin,
        account.id,
        Array.from({ length: 10 }, (_, i) => ({
          name: `${name}-${i}`,
          templateId: template.id,
          limits: { maxWidgets: i },
        })),
      );
      await registry.changeTenant(admin, tenants[0].id, { kind: 'set-limits', limits: { maxAgents: 9 } });
      await registry.changeTenant(admin, tenants[1].id, { kind: 'suspend', reason: 'unpaid' });
      await registry.changeTenant(admin, tenants[2].id, {
        kind: 'update',
        changes: { profile: { companyName: 'Acme' } },
      });
      const key = await registry.issueApiKey(admin, tenants[3].id, { scopes: ['ingest'], name: 'k' });
      await registry.rotateApiKey(admin, key.id, 60);
      await registry.issueApiKey(admin, tenants[4].id, { scopes: ['read'], name: 'k2' });
      await registry.changeTenant(admin, tenants[4].id, { kind: 'delete', at: new Date().toISOString() });
      await registry.issueManagementKey(admin, account.id, { role: 'viewer', name: 'v' });
    }
    const snapshot = async () => {
      const out: Record<string, unknown> = {};
      for (const table of READ_MODEL_TABLES)
        out[table] = await owner.query(`SELECT * FROM ${table} ORDER BY id`);
      return out;
    };
    const live = await snapshot();
    await owner.query(`UPDATE tenants SET name = 'corrupted'`);
    await rebuildProjection(ownerStore, registryProjection);
    expect(await snapshot()).toEqual(live);
  });

  it('shows an account key nothing of other accounts, and a connection without an account nothing at all', async () => {
    const a = await registry.createAccount(admin, settings);
    const b = await registry.createAccount(admin, settings);
    const [tenantA] = await registry.createTenants(admin, a.id, [{ name: 'a' }]);
    await registry.createTenants(admin, b.id, [{ name: 'b' }]);
    const asB: Caller = { ...admin, scope: { accountId: b.id } };
    await expect(registry.getTenant(asB, tenantA.id)).rejects.toMatchObject({ code: 'tenant_not_found' });
    expect((await registry.listAccounts(asB, undefined, 100)).items.map((x) => x.id)).toEqual([b.id]);
    for (const table of READ_MODEL_TABLES) {
      expect(await app.query(`SELECT count(*)::int AS n FROM ${table}`)).toEqual([{ n: 0 }]);
    }
  });

  it('purges a deleted tenant once its retention has ended and records tenant.purged', async () => {
    const account = await registry.createAccount(admin, settings);
    const [kept, gone] = await registry.createTenants(admin, account.id, [
      { name: 'kept', retentionDays: 30 },
      { name: 'gone', retentionDays: 0 },
    ]);
    const now = new Date();
    for (const t of [kept, gone])
      await registry.changeTenant(admin, t.id, { kind: 'delete', at: now.toISOString() });
    const purged = await registry.purgeDue(
      { scope: 'all-accounts', actor: { type: 'system', id: 'purge' } },
      new Date(now.getTime() + 1000),
    );
    expect(purged).toContain(gone.id);
    expect(purged).not.toContain(kept.id);
    const history = await registry.tenantHistory(admin, gone.id);
    expect(history.map((e) => e.type)).toEqual(['tenant.created', 'tenant.deleted', 'tenant.purged']);
    expect(history[2].actor).toEqual({ type: 'system', id: 'purge' });
  });
});
