import type { EntityManager } from 'typeorm';
import type { Projection, StoredEvent } from '@metering/event-store';

type Data = Record<string, unknown>;

/** SQL for each event type: how it changes the read models. Used live and for rebuilds. */
async function applyOne(tx: EntityManager, e: StoredEvent): Promise<void> {
  const d = e.data as Data;
  const at = e.occurredAt;
  switch (e.type) {
    case 'account.created':
      await tx.query(
        `INSERT INTO accounts (id, account_id, name, currency, timezone, billing_anchor_day, status, version, created_at, updated_at)
         VALUES ($1, $1, $2, $3, $4, $5, $6, $7, $8, $8)`,
        [e.streamId, d.name, d.currency, d.timezone, d.billingAnchorDay, d.status, e.version, at],
      );
      return;
    case 'account.updated': {
      const c = d.changes as Data;
      await tx.query(
        `UPDATE accounts SET name = COALESCE($2, name), currency = COALESCE($3, currency), timezone = COALESCE($4, timezone),
           billing_anchor_day = COALESCE($5, billing_anchor_day), status = COALESCE($6, status), version = $7, updated_at = $8
         WHERE id = $1`,
        [
          e.streamId,
          c.name ?? null,
          c.currency ?? null,
          c.timezone ?? null,
          c.billingAnchorDay ?? null,
          c.status ?? null,
          e.version,
          at,
        ],
      );
      return;
    }
    case 'tenant.created':
      await tx.query(
        `INSERT INTO tenants (id, account_id, name, status, profile, placement, limits, features, template_id, retention_days, version, created_at, updated_at)
         VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
        [
          e.streamId,
          e.accountId,
          d.name,
          d.profile,
          d.placement,
          d.limits,
          d.features,
          d.templateId ?? null,
          d.retentionDays,
          e.version,
          at,
        ],
      );
      return;
    case 'tenant.updated': {
      const c = d.changes as Data;
      await tx.query(
        `UPDATE tenants SET name = COALESCE($2, name), profile = COALESCE($3, profile), placement = COALESCE($4, placement),
           retention_days = COALESCE($5, retention_days), version = $6, updated_at = $7 WHERE id = $1`,
        [
          e.streamId,
          c.name ?? null,
          c.profile ?? null,
          c.placement ?? null,
          c.retentionDays ?? null,
          e.version,
          at,
        ],
      );
      return;
    }
    case 'tenant.limits_changed':
      await tx.query(`UPDATE tenants SET limits = $2, version = $3, updated_at = $4 WHERE id = $1`, [
        e.streamId,
        d.limits,
        e.version,
        at,
      ]);
      return;
    case 'tenant.features_changed':
      await tx.query(`UPDATE tenants SET features = $2, version = $3, updated_at = $4 WHERE id = $1`, [
        e.streamId,
        d.features,
        e.version,
        at,
      ]);
      return;
    case 'tenant.suspended':
    case 'tenant.resumed':
    case 'tenant.purged':
      await tx.query(`UPDATE tenants SET status = $2, version = $3, updated_at = $4 WHERE id = $1`, [
        e.streamId,
        { 'tenant.suspended': 'suspended', 'tenant.resumed': 'active', 'tenant.purged': 'purged' }[e.type],
        e.version,
        at,
      ]);
      return;
    case 'tenant.deleted':
      await tx.query(
        `UPDATE tenants SET status = 'deleted', deleted_at = $2, purge_after = $3, version = $4, updated_at = $5 WHERE id = $1`,
        [e.streamId, d.deletedAt, d.purgeAfter, e.version, at],
      );
      return;
    case 'template.created':
      await tx.query(
        `INSERT INTO templates (id, account_id, name, spec, created_at) VALUES ($1, $2, $3, $4, $5)`,
        [e.streamId, e.accountId, d.name, d, at],
      );
      return;
    case 'api_key.issued':
      await tx.query(
        `INSERT INTO api_keys (id, account_id, tenant_id, prefix, secret_hash, scopes, name, created_at, expires_at)
         VALUES ($1, $2, $3, $1, $4, $5, $6, $7, $8)`,
        [e.streamId, e.accountId, e.tenantId, d.secretHash, d.scopes, d.name, at, d.expiresAt ?? null],
      );
      return;
    case 'api_key.expiry_set':
      await tx.query(`UPDATE api_keys SET expires_at = $2 WHERE id = $1`, [e.streamId, d.expiresAt]);
      return;
    case 'api_key.revoked':
      await tx.query(`UPDATE api_keys SET revoked_at = $2 WHERE id = $1`, [e.streamId, d.revokedAt]);
      return;
    case 'management_key.issued':
      await tx.query(
        `INSERT INTO management_keys (id, account_id, role, prefix, secret_hash, name, created_at) VALUES ($1, $2, $3, $1, $4, $5, $6)`,
        [e.streamId, e.accountId, d.role, d.secretHash, d.name, at],
      );
      return;
    case 'management_key.revoked':
      await tx.query(`UPDATE management_keys SET revoked_at = $2 WHERE id = $1`, [e.streamId, d.revokedAt]);
      return;
    default:
      throw new Error(`registry projection has no rule for ${e.type}`);
  }
}

export const registryProjection: Projection = {
  tables: ['accounts', 'tenants', 'templates', 'api_keys', 'management_keys'],
  async apply(tx, events) {
    for (const event of events) await applyOne(tx, event);
  },
};
