import { hash } from 'node:crypto';
import type { DataSource, EntityManager, MigrationInterface, QueryRunner } from 'typeorm';

export class AcceptedEventsTable1763900000000 implements MigrationInterface {
  name = 'AcceptedEventsTable1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE accepted_events (
      tenant_id text NOT NULL,
      source text NOT NULL,
      event_id text NOT NULL,
      payload_hash text NOT NULL,
      accepted_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, source, event_id)
    )`);
    await q.query(`CREATE INDEX accepted_events_age ON accepted_events (accepted_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE accepted_events');
  }
}

/**
 * Keys as 16-byte digests of (tenant, source, id) in one primary key, and a BRIN index for
 * pruning by age: a fraction of the index work per event of the text-keyed first version.
 */
export class AcceptedEventKeys1764000000000 implements MigrationInterface {
  name = 'AcceptedEventKeys1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE accepted_event_keys (
      key bytea PRIMARY KEY,
      payload bytea NOT NULL,
      accepted_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE INDEX accepted_event_keys_age ON accepted_event_keys USING brin (accepted_at)`);
    await q.query(`INSERT INTO accepted_event_keys (key, payload, accepted_at)
      SELECT substring(sha256(convert_to(tenant_id, 'UTF8') || '\\x00'::bytea || convert_to(source, 'UTF8')
               || '\\x00'::bytea || convert_to(event_id, 'UTF8')) FROM 1 FOR 16),
             substring(decode(payload_hash, 'base64') FROM 1 FOR 16), accepted_at
      FROM accepted_events ON CONFLICT DO NOTHING`);
    await q.query('DROP TABLE accepted_events');
  }

  down(): Promise<void> {
    return Promise.reject(new Error('accepted_event_keys cannot be turned back into text keys'));
  }
}

export interface EventKey {
  source: string;
  id: string;
  /** A digest of what the producer sent (at least 16 bytes; the first 16 are kept). */
  payloadHash: Buffer;
}

export type ClaimOutcome = 'accepted' | 'duplicate' | 'conflict';

const DEADLOCK = '40P01';
/** Bytes kept of each key and payload digest. */
const DIGEST_BYTES = 16;

/**
 * Which events of a request are new for a tenant, recorded durably and atomically with their
 * publication: the keys are claimed in a transaction, `publish` runs for the new ones while the
 * claims are held, and the claims commit only if publishing succeeded. A concurrent request with
 * the same keys waits on the claims, then sees them as duplicates (or claims them itself if
 * the first one rolled back), so exactly one request accepts an event.
 */
export class IdempotencyLedger {
  constructor(private readonly dataSource: DataSource) {}

  /** `keys` must be distinct (intake folds repeats within a request first). */
  async claimAndPublish(
    tenantId: string,
    keys: readonly EventKey[],
    publish: (accepted: number[]) => Promise<void>,
  ): Promise<ClaimOutcome[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.dataSource.transaction((tx) => this.claim(tx, tenantId, keys, publish));
      } catch (err) {
        // Overlapping batches in different orders cannot deadlock (keys are sorted), but retry once anyway.
        if ((err as { code?: string }).code !== DEADLOCK || attempt >= 3) throw err;
      }
    }
  }

  private async claim(
    tx: EntityManager,
    tenantId: string,
    keys: readonly EventKey[],
    publish: (accepted: number[]) => Promise<void>,
  ): Promise<ClaimOutcome[]> {
    if (keys.length === 0) return [];
    // A lost claim costs at most a "duplicate" reported as "accepted" after a crash: consumers
    // deduplicate by event id anyway, so the commit need not wait for its own fsync.
    await tx.query('SET LOCAL synchronous_commit = off');
    const digests = keys.map((k) => keyDigest(tenantId, k));
    // One lock order for every request: sorted by digest.
    const order = digests.map((_, i) => i).sort((a, b) => Buffer.compare(digests[a], digests[b]));
    // The digests go as two binary parameters of 16-byte slices, not as arrays of bytea, which
    // node-postgres would send as hex text at twice the size (and the cost of encoding it).
    const inserted = await tx.query<unknown[]>(
      `INSERT INTO accepted_event_keys (key, payload)
       SELECT substring($1::bytea FROM n * ${DIGEST_BYTES} + 1 FOR ${DIGEST_BYTES}),
              substring($2::bytea FROM n * ${DIGEST_BYTES} + 1 FOR ${DIGEST_BYTES})
       FROM generate_series(0, $3::int - 1) AS n ORDER BY n
       ON CONFLICT DO NOTHING
       RETURNING 1`,
      [
        Buffer.concat(order.map((i) => digests[i])),
        Buffer.concat(order.map((i) => payloadDigest(keys[i]))),
        keys.length,
      ],
    );
    // The usual case: every key was new. Otherwise rows this transaction wrote (xmin) are ours.
    const outcomes: ClaimOutcome[] =
      inserted.length === keys.length ? keys.map(() => 'accepted') : await this.classify(tx, keys, digests);
    const accepted = outcomes.flatMap((o, i) => (o === 'accepted' ? [i] : []));
    if (accepted.length) await publish(accepted);
    return outcomes;
  }

  private async classify(
    tx: EntityManager,
    keys: readonly EventKey[],
    digests: Buffer[],
  ): Promise<ClaimOutcome[]> {
    const rows = await tx.query<{ key: Buffer; payload: Buffer; mine: boolean }[]>(
      `SELECT key, payload, xmin = pg_current_xact_id()::xid AS mine
       FROM accepted_event_keys WHERE key = ANY($1::bytea[])`,
      [digests],
    );
    const stored = new Map(rows.map((r) => [r.key.toString('base64'), r]));
    return keys.map((k, i): ClaimOutcome => {
      const row = stored.get(digests[i].toString('base64'));
      if (!row) throw new Error('a claimed key is missing from the ledger');
      if (row.mine) return 'accepted';
      return row.payload.equals(payloadDigest(k)) ? 'duplicate' : 'conflict';
    });
  }

  /** Forgets keys older than the lateness window allows events to be (they can no longer arrive). */
  async prune(olderThan: Date): Promise<number> {
    const [, count] = await this.dataSource.query<[unknown, number]>(
      `DELETE FROM accepted_event_keys WHERE accepted_at < $1`,
      [olderThan],
    );
    return count;
  }
}

/** 128 bits of SHA-256 over (tenant, source, id): the tenant is part of the key, so tenants never collide. */
const keyDigest = (tenantId: string, k: EventKey): Buffer =>
  hash('sha256', `${tenantId}\u0000${k.source}\u0000${k.id}`, 'buffer').subarray(0, DIGEST_BYTES);

const payloadDigest = (k: EventKey): Buffer => k.payloadHash.subarray(0, DIGEST_BYTES);
