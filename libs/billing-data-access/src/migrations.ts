import type { MigrationInterface, QueryRunner } from 'typeorm';
import { accountPolicySql, eventStoreMigration } from '@metering/event-store';

const ACCOUNT_TABLES = ['subscriptions', 'invoices', 'invoice_lines'] as const;

function billingTables(appRole: string): new () => MigrationInterface {
  return class BillingTables1764300000000 implements MigrationInterface {
    name = 'BillingTables1764300000000';

    async up(q: QueryRunner): Promise<void> {
      // The plan catalog is the platform's, not an account's: no row-level security.
      await q.query(`CREATE TABLE plans (
        id text PRIMARY KEY, name text NOT NULL, latest_version integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now())`);
      await q.query(`CREATE TABLE plan_versions (
        plan_id text NOT NULL REFERENCES plans (id), version integer NOT NULL CHECK (version > 0),
        spec jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (plan_id, version))`);
      // A version is a fact subscriptions and invoices refer to: a change is a new version.
      await q.query(`CREATE FUNCTION billing_refuse_version_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'plan versions are immutable (plan %, version %)', OLD.plan_id, OLD.version; END $$`);
      await q.query(`CREATE TRIGGER plan_versions_immutable BEFORE UPDATE OR DELETE ON plan_versions
        FOR EACH ROW EXECUTE FUNCTION billing_refuse_version_change()`);

      await q.query(`CREATE TABLE subscriptions (
        account_id text PRIMARY KEY, id text NOT NULL UNIQUE, currency text NOT NULL,
        anchor_day integer NOT NULL, timezone text NOT NULL, start_ms bigint NOT NULL,
        phases jsonb NOT NULL, version integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`);

      // One invoice per account and period, whatever runs happen.
      await q.query(`CREATE TABLE invoices (
        id text PRIMARY KEY, account_id text NOT NULL, subscription_id text NOT NULL,
        period_start_ms bigint NOT NULL, period_end_ms bigint NOT NULL,
        period_start_date text NOT NULL, period_end_date text NOT NULL,
        currency text NOT NULL, status text NOT NULL CHECK (status IN ('draft', 'finalized', 'paid', 'void')),
        total_minor numeric NOT NULL, lines jsonb NOT NULL, rated jsonb NOT NULL,
        grace_until_ms bigint NOT NULL, version integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
        finalized_at timestamptz, voided_at timestamptz, void_reason text,
        UNIQUE (account_id, period_start_ms))`);
      await q.query(`CREATE INDEX invoices_drafts ON invoices (account_id) WHERE status = 'draft'`);
      // Lines and tenant sub-lines as rows, for finance queries; tenant_id is set on sub-lines.
      await q.query(`CREATE TABLE invoice_lines (
        invoice_id text NOT NULL REFERENCES invoices (id), account_id text NOT NULL,
        line_no integer NOT NULL, tenant_id text NOT NULL DEFAULT '', kind text NOT NULL,
        meter_key text, quantity text, amount_minor numeric NOT NULL,
        PRIMARY KEY (invoice_id, line_no, tenant_id))`);

      // A finalized invoice never changes: only its status moves on (paid, void). Enforced here so
      // no code path, owner connection included, can rewrite what was billed.
      await q.query(`CREATE FUNCTION billing_guard_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE kept text[] := ARRAY['status', 'voided_at', 'void_reason', 'updated_at', 'version'];
        BEGIN
          IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'invoices are never deleted (invoice %)', OLD.id;
          END IF;
          IF OLD.status = 'draft' THEN RETURN NEW; END IF;
          IF OLD.status = 'void' OR NEW.status NOT IN ('paid', 'void') OR NEW.status = OLD.status
             OR (to_jsonb(NEW) - kept) IS DISTINCT FROM (to_jsonb(OLD) - kept) THEN
            RAISE EXCEPTION 'invoice % is % and cannot change', OLD.id, OLD.status;
          END IF;
          RETURN NEW;
        END $$`);
      await q.query(`CREATE TRIGGER invoices_guard BEFORE UPDATE OR DELETE ON invoices
        FOR EACH ROW EXECUTE FUNCTION billing_guard_invoice()`);
      await q.query(`CREATE FUNCTION billing_guard_invoice_lines() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE invoice text := CASE WHEN TG_OP = 'DELETE' THEN OLD.invoice_id ELSE NEW.invoice_id END;
        DECLARE current_status text;
        BEGIN
          SELECT status INTO current_status FROM invoices WHERE id = invoice;
          IF current_status IS DISTINCT FROM 'draft' THEN
            RAISE EXCEPTION 'lines of invoice % (%) cannot change', invoice, current_status;
          END IF;
          RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        END $$`);
      await q.query(`CREATE TRIGGER invoice_lines_guard BEFORE INSERT OR UPDATE OR DELETE ON invoice_lines
        FOR EACH ROW EXECUTE FUNCTION billing_guard_invoice_lines()`);

      for (const table of ACCOUNT_TABLES) {
        for (const sql of accountPolicySql(table)) await q.query(sql);
        await q.query(`GRANT SELECT, INSERT, UPDATE ON ${table} TO ${appRole}`);
      }
      await q.query(`GRANT DELETE ON invoice_lines TO ${appRole}`);
      await q.query(`GRANT SELECT, INSERT, UPDATE ON plans TO ${appRole}`);
      await q.query(`GRANT SELECT, INSERT ON plan_versions TO ${appRole}`);
    }

    async down(q: QueryRunner): Promise<void> {
      for (const table of ['invoice_lines', 'invoices', 'subscriptions', 'plan_versions', 'plans'])
        await q.query(`DROP TABLE ${table}`);
      for (const fn of [
        'billing_guard_invoice_lines',
        'billing_guard_invoice',
        'billing_refuse_version_change',
      ])
        await q.query(`DROP FUNCTION ${fn}`);
    }
  };
}

function stripeTables(appRole: string): new () => MigrationInterface {
  return class BillingStripe1764400000000 implements MigrationInterface {
    name = 'BillingStripe1764400000000';

    async up(q: QueryRunner): Promise<void> {
      // One Stripe customer per account, made once (idempotency key `customer:<accountId>`).
      await q.query(`CREATE TABLE stripe_customers (
        account_id text PRIMARY KEY, customer_id text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now())`);
      // The sync worker's queue and progress: a row is written in the transaction that finalizes
      // the invoice; each Stripe step done is recorded, so a crash resumes at the step it was on.
      await q.query(`CREATE TABLE stripe_invoice_sync (
        invoice_id text PRIMARY KEY REFERENCES invoices (id), account_id text NOT NULL,
        step text NOT NULL DEFAULT 'customer'
          CHECK (step IN ('customer', 'invoice', 'items', 'finalize', 'done', 'cancelled')),
        stripe_customer_id text, stripe_invoice_id text UNIQUE, items_synced integer NOT NULL DEFAULT 0,
        attempts integer NOT NULL DEFAULT 0, next_attempt_at timestamptz NOT NULL DEFAULT now(),
        lease_until timestamptz, last_error text,
        payment_status text CHECK (payment_status IN ('payment_failed', 'paid')),
        payment_failed_at timestamptz, paid_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`);
      await q.query(`CREATE INDEX stripe_invoice_sync_due ON stripe_invoice_sync (next_attempt_at)
        WHERE step NOT IN ('done', 'cancelled')`);
      // Webhook events seen, by Stripe event id: a redelivered event is answered without effect.
      await q.query(`CREATE TABLE stripe_webhook_events (
        event_id text PRIMARY KEY, type text NOT NULL, stripe_object_id text, invoice_id text,
        outcome text NOT NULL, received_at timestamptz NOT NULL DEFAULT now())`);
      for (const table of ['stripe_customers', 'stripe_invoice_sync']) {
        for (const sql of accountPolicySql(table)) await q.query(sql);
        await q.query(`GRANT SELECT, INSERT, UPDATE ON ${table} TO ${appRole}`);
      }
      await q.query(`GRANT SELECT, INSERT, UPDATE ON stripe_webhook_events TO ${appRole}`);
    }

    async down(q: QueryRunner): Promise<void> {
      for (const table of ['stripe_webhook_events', 'stripe_invoice_sync', 'stripe_customers'])
        await q.query(`DROP TABLE ${table}`);
    }
  };
}

function billingModes(appRole: string): new () => MigrationInterface {
  return class BillingModes1764500000000 implements MigrationInterface {
    name = 'BillingModes1764500000000';

    async up(q: QueryRunner): Promise<void> {
      // A tenant's own subscriptions: its history of modes (pooled outside their spans).
      await q.query(`CREATE TABLE tenant_subscriptions (
        id text PRIMARY KEY, account_id text NOT NULL, tenant_id text NOT NULL, currency text NOT NULL,
        anchor_day integer NOT NULL, timezone text NOT NULL, start_ms bigint NOT NULL, end_ms bigint,
        phases jsonb NOT NULL,
        stripe_customer text NOT NULL CHECK (stripe_customer IN ('account', 'tenant')),
        version integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (end_ms IS NULL OR end_ms >= start_ms))`);
      await q.query(`CREATE INDEX tenant_subscriptions_tenant ON tenant_subscriptions (tenant_id, start_ms)`);
      await q.query(`CREATE INDEX tenant_subscriptions_account ON tenant_subscriptions (account_id)`);
      // At most one own subscription of a tenant is open.
      await q.query(`CREATE UNIQUE INDEX tenant_subscriptions_open ON tenant_subscriptions (tenant_id)
        WHERE end_ms IS NULL`);

      // One invoice per subscription and period: the account's pooled one and each tenant's own.
      await q.query(`ALTER TABLE invoices ADD COLUMN tenant_id text`);
      await q.query(`ALTER TABLE invoices DROP CONSTRAINT invoices_account_id_period_start_ms_key`);
      await q.query(`ALTER TABLE invoices ADD CONSTRAINT invoices_subscription_period
        UNIQUE (subscription_id, period_start_ms)`);
      await q.query(
        `CREATE INDEX invoices_account_period ON invoices (account_id, period_start_ms, subscription_id)`,
      );

      // Stripe customers of tenants billed apart from their account (made once per tenant).
      await q.query(`CREATE TABLE stripe_tenant_customers (
        tenant_id text PRIMARY KEY, account_id text NOT NULL, customer_id text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now())`);
      for (const table of ['tenant_subscriptions', 'stripe_tenant_customers']) {
        for (const sql of accountPolicySql(table)) await q.query(sql);
        await q.query(`GRANT SELECT, INSERT, UPDATE ON ${table} TO ${appRole}`);
      }
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query('DROP TABLE stripe_tenant_customers');
      await q.query('DROP INDEX invoices_account_period');
      await q.query('ALTER TABLE invoices DROP CONSTRAINT invoices_subscription_period');
      await q.query(
        'ALTER TABLE invoices ADD CONSTRAINT invoices_account_id_period_start_ms_key UNIQUE (account_id, period_start_ms)',
      );
      await q.query('ALTER TABLE invoices DROP COLUMN tenant_id');
      await q.query('DROP TABLE tenant_subscriptions');
    }
  };
}

/**
 * Every migration of billing's database, in order: the event store (outbox), billing's and Stripe
 * sync tables, billing modes (tenants' own subscriptions).
 */
export function billingMigrations(options: { appRole: string; appPassword: string }) {
  return [
    eventStoreMigration(options),
    billingTables(options.appRole),
    stripeTables(options.appRole),
    billingModes(options.appRole),
  ];
}
