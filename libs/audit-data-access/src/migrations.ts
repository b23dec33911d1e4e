import type { MigrationInterface, QueryRunner } from 'typeorm';
import { GENESIS_HASH } from '@metering/audit-domain';
import { accountPolicySql, appRoleSql } from '@metering/event-store';

export const AUDIT_TABLES = [
  'audit_entries',
  'audit_chain_heads',
  'audit_checkpoints',
  'audit_retention',
] as const;

/**
 * The audit log's tables. `audit_entries` is append-only for everyone: its trigger refuses
 * UPDATE and TRUNCATE, and DELETE of any entry that a signed retention checkpoint does not
 * cover; the app role is granted neither UPDATE nor DELETE. Chain heads only move forward.
 */
function auditSchema(appRole: string, appPassword: string): new () => MigrationInterface {
  return class AuditSchema1764500000000 implements MigrationInterface {
    name = 'AuditSchema1764500000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(appRoleSql(appRole, appPassword));
      await q.query(`CREATE TABLE audit_entries (
        id bigserial PRIMARY KEY,
        account_id text NOT NULL,
        seq bigint NOT NULL CHECK (seq > 0),
        event_id uuid NOT NULL UNIQUE,
        occurred_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL,
        tenant_id text,
        actor_type text NOT NULL,
        actor_id text NOT NULL,
        action text NOT NULL,
        target_type text NOT NULL,
        target_id text NOT NULL,
        target_version bigint NOT NULL,
        change json NOT NULL,
        source text NOT NULL,
        correlation_id text,
        prev_hash text NOT NULL,
        hash text NOT NULL,
        UNIQUE (account_id, seq)
      )`);
      await q.query(`CREATE INDEX audit_entries_by_account ON audit_entries (account_id, id)`);
      await q.query(
        `CREATE INDEX audit_entries_by_tenant ON audit_entries (tenant_id, id) WHERE tenant_id IS NOT NULL`,
      );
      await q.query(`CREATE TABLE audit_chain_heads (
        account_id text PRIMARY KEY,
        seq bigint NOT NULL DEFAULT 0,
        hash text NOT NULL DEFAULT '${GENESIS_HASH}',
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
      await q.query(`CREATE TABLE audit_checkpoints (
        account_id text NOT NULL,
        seq bigint NOT NULL,
        hash text NOT NULL,
        pruned_before timestamptz NOT NULL,
        signed jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, seq)
      )`);
      await q.query(`CREATE TABLE audit_retention (
        account_id text PRIMARY KEY,
        retention_days integer NOT NULL CHECK (retention_days > 0),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);

      await q.query(`CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP; END $$`);
      // Retention may remove an account's oldest entries, and only once a checkpoint records
      // (and signs) the hash they end with, so the remaining chain still verifies.
      await q.query(`CREATE FUNCTION audit_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' AND EXISTS (
            SELECT 1 FROM audit_checkpoints c WHERE c.account_id = OLD.account_id AND c.seq >= OLD.seq
          ) THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION 'audit_entries is append-only (% of entry % of account % refused)', TG_OP, OLD.seq, OLD.account_id;
        END $$`);
      await q.query(`CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
        FOR EACH ROW EXECUTE FUNCTION audit_entries_guard()`);
      await q.query(`CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()`);
      // A checkpoint names an entry that exists, with its hash, beyond the previous checkpoint.
      await q.query(`CREATE FUNCTION audit_checkpoint_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NOT EXISTS (
            SELECT 1 FROM audit_entries e WHERE e.account_id = NEW.account_id AND e.seq = NEW.seq AND e.hash = NEW.hash
          ) THEN
            RAISE EXCEPTION 'checkpoint % of account % does not match an entry', NEW.seq, NEW.account_id;
          END IF;
          IF EXISTS (SELECT 1 FROM audit_checkpoints c WHERE c.account_id = NEW.account_id AND c.seq >= NEW.seq) THEN
            RAISE EXCEPTION 'checkpoint % of account % is not beyond the last one', NEW.seq, NEW.account_id;
          END IF;
          RETURN NEW;
        END $$`);
      await q.query(`CREATE TRIGGER audit_checkpoints_valid BEFORE INSERT ON audit_checkpoints
        FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_guard()`);
      await q.query(`CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()`);
      await q.query(`CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()`);
      await q.query(`CREATE FUNCTION audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' OR NEW.seq < OLD.seq OR NEW.account_id <> OLD.account_id THEN
            RAISE EXCEPTION 'audit chain heads only move forward';
          END IF;
          RETURN NEW;
        END $$`);
      await q.query(`CREATE TRIGGER audit_chain_heads_forward BEFORE UPDATE OR DELETE ON audit_chain_heads
        FOR EACH ROW EXECUTE FUNCTION audit_head_forward()`);

      for (const table of AUDIT_TABLES) for (const sql of accountPolicySql(table)) await q.query(sql);
      await q.query(`GRANT SELECT, INSERT ON audit_entries TO ${appRole}`);
      await q.query(`GRANT USAGE ON SEQUENCE audit_entries_id_seq TO ${appRole}`);
      await q.query(`GRANT SELECT, INSERT, UPDATE ON audit_chain_heads, audit_retention TO ${appRole}`);
      await q.query(`GRANT SELECT ON audit_checkpoints TO ${appRole}`);
    }

    async down(q: QueryRunner): Promise<void> {
      for (const table of [...AUDIT_TABLES].reverse()) await q.query(`DROP TABLE ${table}`);
      for (const fn of [
        'audit_refuse_change',
        'audit_entries_guard',
        'audit_checkpoint_guard',
        'audit_head_forward',
      ])
        await q.query(`DROP FUNCTION ${fn}`);
    }
  };
}

/** Every migration of the audit database, in order. */
export function auditMigrations(options: { appRole: string; appPassword: string }) {
  return [auditSchema(options.appRole, options.appPassword)];
}
