import { accountPolicySql, appRoleSql, eventStoreMigration } from './schema';

describe(accountPolicySql.name, () => {
  it('forces row-level security so the table owner is not exempt either', () => {
    const statements = accountPolicySql('tenants');
    expect(statements).toContain('ALTER TABLE tenants FORCE ROW LEVEL SECURITY');
    expect(statements.join('\n')).toMatch(/USING \(account_id = current_setting\('app\.account_id', true\)/);
  });
});

describe(appRoleSql.name, () => {
  it('creates a login role that cannot bypass row-level security', () => {
    expect(appRoleSql('registry_app', "it's")).toMatch(
      /CREATE ROLE registry_app LOGIN NOBYPASSRLS PASSWORD 'it''s'/,
    );
  });

  it.each(['Registry', 'a-b', 'x; DROP ROLE postgres', ''])('refuses the role name %j', (name) => {
    expect(() => appRoleSql(name, 'pw')).toThrow(/invalid role name/);
    expect(() => eventStoreMigration({ appRole: name, appPassword: 'pw' })).toThrow(/invalid role name/);
  });
});
