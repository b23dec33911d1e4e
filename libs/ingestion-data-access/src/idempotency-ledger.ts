import { hash } from 'node:crypto';
import type { PoolClient, QueryResult } from 'pg';
import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';

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
    if (keys.length === 0) return [];
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.claim(tenantId, keys, publish);
      } catch (err) {
        // Overlapping batches in different orders cannot deadlock (keys are sorted), but retry once anyway.
        if ((err as { code?: string }).code !== DEADLOCK || attempt >= 3) throw err;
      }
    }
  }

  /**
   * Two round trips in the usual case: the transaction's start, its settings and the claims go
   * as one multi-statement query (which takes no parameters: the digests are written as hex of
   * our own bytes), then COMMIT. node-postgres sends one query at a time, so every statement on
   * its own would cost a round trip on the hot path of every ingestion request.
   */
  private async claim(
    tenantId: string,
    keys: readonly EventKey[],
    publish: (accepted: number[]) => Promise<void>,
  ): Promise<ClaimOutcome[]> {
    const runner = this.dataSource.createQueryRunner();
    const client = (await runner.connect()) as PoolClient;
    try {
      const digests = keys.map((k) => keyDigest(tenantId, k));
      // One lock order for every request: sorted by digest.
      const order = digests.map((_, i) => i).sort((a, b) => Buffer.compare(digests[a], digests[b]));
      const hex = (parts: Buffer[]) => Buffer.concat(parts).toString('hex');
      const results = (await client.query(
        // A lost claim costs at most a "duplicate" reported as "accepted" after a crash: consumers
        // deduplicate by event id anyway, so the commit need not wait for its own fsync.
        `BEGIN; SET LOCAL synchronous_commit = off;
         INSERT INTO accepted_event_keys (key, payload)
         SELECT substring(k FROM n * ${DIGEST_BYTES} + 1 FOR ${DIGEST_BYTES}),
                substring(p FROM n * ${DIGEST_BYTES} + 1 FOR ${DIGEST_BYTES})
         FROM decode('${hex(order.map((i) => digests[i]))}', 'hex') AS k,
              decode('${hex(order.map((i) => payloadDigest(keys[i])))}', 'hex') AS p,
              generate_series(0, ${keys.length - 1}) AS n
         ORDER BY n
         ON CONFLICT DO NOTHING
         RETURNING 1`,
      )) as unknown as QueryResult[];
      const inserted = results[results.length - 1].rowCount;
      // The usual case: every key was new. Otherwise rows this transaction wrote (xmin) are ours.
      const outcomes: ClaimOutcome[] =
        inserted === keys.length ? keys.map(() => 'accepted') : await this.classify(client, keys, digests);
      const accepted = outcomes.flatMap((o, i) => (o === 'accepted' ? [i] : []));
      if (accepted.length) await publish(accepted);
      await client.query('COMMIT');
      return outcomes;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      await runner.release();
    }
  }

  private async classify(
    client: PoolClient,
    keys: readonly EventKey[],
    digests: Buffer[],
  ): Promise<ClaimOutcome[]> {
    const { rows } = await client.query<{ key: Buffer; payload: Buffer; mine: boolean }>(
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
