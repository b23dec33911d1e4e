import type { MigrationInterface, QueryRunner } from 'typeorm';
import { accountPolicySql, eventStoreMigration } from '@metering/event-store';

export const WEBHOOK_TABLES = ['webhook_endpoints', 'webhook_deliveries', 'webhook_attempts'] as const;

/**
 * Endpoints, one delivery per (endpoint, event) and its attempts. Deliveries are the worker's
 * queue: `next_attempt_at` says when a pending one is due, and a claim moves it past the lease
 * so that a worker that dies mid-attempt hands it on. Every table is account-scoped under
 * row-level security.
 */
function webhookTables(appRole: string): new () => MigrationInterface {
  return class WebhookTables1765000000000 implements MigrationInterface {
    name = 'WebhookTables1765000000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(`CREATE TABLE webhook_endpoints (
        id text PRIMARY KEY,
        account_id text NOT NULL,
        url text NOT NULL,
        description text NOT NULL DEFAULT '',
        event_types text[] NOT NULL,
        secret_sealed text NOT NULL,
        secret_hint text NOT NULL,
        status text NOT NULL CHECK (status IN ('enabled', 'disabled')),
        disabled_reason text,
        disabled_at timestamptz,
        consecutive_failures integer NOT NULL DEFAULT 0,
        failing_since timestamptz,
        last_error text,
        last_success_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
      await q.query(`CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account_id)`);
      await q.query(`CREATE TABLE webhook_deliveries (
        id uuid PRIMARY KEY,
        account_id text NOT NULL,
        endpoint_id text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        event_id uuid NOT NULL,
        event_type text NOT NULL,
        body text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        lease_token uuid,
        expires_at timestamptz NOT NULL,
        redelivery_of uuid,
        last_status_code integer,
        last_latency_ms integer,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz
      )`);
      // One delivery per endpoint and event however often the event is consumed; a manual
      // redelivery is a delivery of its own.
      await q.query(`CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (endpoint_id, event_id)
        WHERE redelivery_of IS NULL`);
      await q.query(`CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
        WHERE status = 'pending'`);
      await q.query(
        `CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, created_at DESC, id DESC)`,
      );
      await q.query(`CREATE INDEX webhook_deliveries_done ON webhook_deliveries (completed_at)
        WHERE status <> 'pending'`);
      await q.query(`CREATE TABLE webhook_attempts (
        delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
        account_id text NOT NULL,
        attempt integer NOT NULL CHECK (attempt > 0),
        started_at timestamptz NOT NULL,
        finished_at timestamptz,
        outcome text NOT NULL CHECK (outcome IN ('in_progress', 'succeeded', 'failed', 'interrupted')),
        status_code integer,
        latency_ms integer,
        error text,
        response_body text,
        PRIMARY KEY (delivery_id, attempt)
      )`);
      for (const table of WEBHOOK_TABLES) {
        for (const sql of accountPolicySql(table)) await q.query(sql);
        await q.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${appRole}`);
      }
    }

    async down(q: QueryRunner): Promise<void> {
      for (const table of [...WEBHOOK_TABLES].reverse()) await q.query(`DROP TABLE ${table}`);
    }
  };
}

/** Every migration of the webhooks database: the event store (outbox of webhooks.events.v1), then its tables. */
export function webhookMigrations(options: { appRole: string; appPassword: string }) {
  return [eventStoreMigration(options), webhookTables(options.appRole)];
}
