import type { MigrationInterface, QueryRunner } from 'typeorm';
import { accountPolicySql, eventStoreMigration } from '@metering/event-store';

export const READ_MODEL_TABLES = ['accounts', 'tenants', 'templates', 'api_keys', 'management_keys'] as const;

function readModels(appRole: string): new () => MigrationInterface {
  return class RegistryReadModels1763800000100 implements MigrationInterface {
    name = 'RegistryReadModels1763800000100';

    async up(q: QueryRunner): Promise<void> {
      await q.query(`CREATE TABLE accounts (
        id text PRIMARY KEY, account_id text NOT NULL, name text NOT NULL, currency text NOT NULL,
        timezone text NOT NULL, billing_anchor_day integer NOT NULL, status text NOT NULL,
        version integer NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)`);
      await q.query(`CREATE TABLE tenants (
        id text PRIMARY KEY, account_id text NOT NULL, name text NOT NULL, status text NOT NULL,
        profile jsonb NOT NULL, placement jsonb NOT NULL, limits jsonb NOT NULL, features jsonb NOT NULL,
        template_id text, retention_days integer NOT NULL, deleted_at timestamptz, purge_after timestamptz,
        version integer NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)`);
      await q.query(`CREATE INDEX tenants_by_account ON tenants (account_id, id)`);
      await q.query(`CREATE INDEX tenants_purge_due ON tenants (purge_after) WHERE status = 'deleted'`);
      await q.query(`CREATE TABLE templates (
        id text PRIMARY KEY, account_id text NOT NULL, name text NOT NULL, spec jsonb NOT NULL,
        created_at timestamptz NOT NULL)`);
      await q.query(`CREATE TABLE api_keys (
        id text PRIMARY KEY, account_id text NOT NULL, tenant_id text NOT NULL, prefix text NOT NULL,
        secret_hash text NOT NULL, scopes text[] NOT NULL, name text NOT NULL, created_at timestamptz NOT NULL,
        expires_at timestamptz, revoked_at timestamptz)`);
      await q.query(`CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id)`);
      await q.query(`CREATE TABLE management_keys (
        id text PRIMARY KEY, account_id text NOT NULL, role text NOT NULL, prefix text NOT NULL,
        secret_hash text NOT NULL, name text NOT NULL, created_at timestamptz NOT NULL, revoked_at timestamptz)`);
      for (const table of READ_MODEL_TABLES) {
        for (const sql of accountPolicySql(table)) await q.query(sql);
        await q.query(`GRANT SELECT, INSERT, UPDATE ON ${table} TO ${appRole}`);
      }
    }

    async down(q: QueryRunner): Promise<void> {
      for (const table of READ_MODEL_TABLES) await q.query(`DROP TABLE ${table}`);
    }
  };
}

/** Every migration of the registry's database, in order. */
export function registryMigrations(options: { appRole: string; appPassword: string }) {
  return [eventStoreMigration(options), readModels(options.appRole)];
}
