import type { MigrationInterface, QueryRunner } from 'typeorm';

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface EventStoreSchemaOptions {
  /**
   * The role the service's requests run as: not the tables' owner and without BYPASSRLS, so
   * row-level security applies to it.
   */
  appRole: string;
  appPassword: string;
}

/**
 * SQL run inside every transaction: which account the transaction may see. `is_local` = true,
 * so a pooled connection never carries it into the next transaction.
 */
export const SET_ACCOUNT_SQL = `SELECT set_config('app.account_id', $1, true), set_config('app.all_accounts', $2, true)`;

/** The policy every account-scoped table gets: its rows are visible to their account only. */
export function accountPolicySql(table: string): string[] {
  return [
    `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`,
    `ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`,
    `CREATE POLICY ${table}_account_isolation ON ${table}
       USING (account_id = current_setting('app.account_id', true) OR current_setting('app.all_accounts', true) = 'on')
       WITH CHECK (account_id = current_setting('app.account_id', true) OR current_setting('app.all_accounts', true) = 'on')`,
  ];
}

/** Creates the app role (login, no BYPASSRLS) if it does not exist. Roles are cluster-wide. */
export function appRoleSql(appRole: string, password: string): string {
  if (!ROLE_NAME.test(appRole)) throw new Error(`invalid role name ${appRole}`);
  const quoted = password.replace(/'/g, "''");
  return `DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${appRole}') THEN
      CREATE ROLE ${appRole} LOGIN NOBYPASSRLS PASSWORD '${quoted}';
    END IF;
  END $$`;
}

/**
 * The event store's tables: streams with their current version (optimistic concurrency),
 * append-only events, and the transactional outbox. Events and streams are account-scoped
 * under row-level security; the outbox is read only by the relay (owner connection).
 */
export function eventStoreMigration(options: EventStoreSchemaOptions): new () => MigrationInterface {
  const role = options.appRole;
  if (!ROLE_NAME.test(role)) throw new Error(`invalid role name ${role}`);
  return class EventStoreSchema1763800000000 implements MigrationInterface {
    name = 'EventStoreSchema1763800000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(appRoleSql(role, options.appPassword));
      await q.query(`CREATE TABLE es_streams (
        stream_id text PRIMARY KEY,
        stream_type text NOT NULL,
        account_id text NOT NULL,
        version integer NOT NULL CHECK (version > 0)
      )`);
      await q.query(`CREATE TABLE es_events (
        position bigserial PRIMARY KEY,
        event_id uuid NOT NULL UNIQUE,
        stream_id text NOT NULL REFERENCES es_streams (stream_id),
        stream_type text NOT NULL,
        version integer NOT NULL,
        type text NOT NULL,
        account_id text NOT NULL,
        tenant_id text,
        data jsonb NOT NULL,
        actor jsonb NOT NULL,
        correlation_id text,
        occurred_at timestamptz NOT NULL,
        UNIQUE (stream_id, version)
      )`);
      await q.query(`CREATE TABLE es_outbox (
        id bigserial PRIMARY KEY,
        event_id uuid NOT NULL UNIQUE,
        topic text NOT NULL,
        key text NOT NULL,
        payload jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz
      )`);
      await q.query(`CREATE INDEX es_outbox_pending ON es_outbox (id) WHERE published_at IS NULL`);
      // Events are facts: nobody, owner included, rewrites or removes them.
      await q.query(`CREATE FUNCTION es_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'es_events is append-only'; END $$`);
      await q.query(`CREATE TRIGGER es_events_append_only BEFORE UPDATE OR DELETE ON es_events
        FOR EACH ROW EXECUTE FUNCTION es_refuse_change()`);
      for (const table of ['es_streams', 'es_events'])
        for (const sql of accountPolicySql(table)) await q.query(sql);
      await q.query(`GRANT SELECT, INSERT, UPDATE ON es_streams TO ${role}`);
      await q.query(`GRANT SELECT, INSERT ON es_events TO ${role}`);
      await q.query(`GRANT INSERT ON es_outbox TO ${role}`);
      await q.query(`GRANT USAGE ON SEQUENCE es_events_position_seq, es_outbox_id_seq TO ${role}`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query('DROP TABLE es_outbox');
      await q.query('DROP TABLE es_events');
      await q.query('DROP TABLE es_streams');
      await q.query('DROP FUNCTION es_refuse_change');
    }
  };
}
