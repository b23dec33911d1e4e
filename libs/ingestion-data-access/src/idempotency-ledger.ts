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

export const INGESTION_MIGRATIONS = [AcceptedEventsTable1763900000000];

export interface EventKey {
  source: string;
  id: string;
  payloadHash: string;
}

export type ClaimOutcome = 'accepted' | 'duplicate' | 'conflict';

const DEADLOCK = '40P01';

/**
 * Which events of a request are new for a tenant, recorded durably and atomically with their
 * publication: the keys are claimed in a transaction, `publish` runs for the new ones while the
 * claims are held, and the claims commit only if publishing succeeded. A concurrent request with
 * the same keys waits on the claims, then sees them as duplicates (or claims them itself if
 * the first one rolled back), so exactly one request accepts an event.
 */
export class IdempotencyLedger {
  constructor(private readonly dataSource: DataSource) {}

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
    // One lock order for every request: sorted by (source, id).
    const order = keys.map((_, i) => i).sort((a, b) => compareKeys(keys[a], keys[b]));
    const sorted = order.map((i) => keys[i]);
    const inserted = await tx.query<{ source: string; event_id: string }[]>(
      `INSERT INTO accepted_events (tenant_id, source, event_id, payload_hash)
       SELECT $1, s, e, h FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS k(s, e, h, n) ORDER BY n
       ON CONFLICT DO NOTHING
       RETURNING source, event_id`,
      [tenantId, sorted.map((k) => k.source), sorted.map((k) => k.id), sorted.map((k) => k.payloadHash)],
    );
    const claimed = new Set(inserted.map((r) => keyOf(r.source, r.event_id)));
    const others = keys.filter((k) => !claimed.has(keyOf(k.source, k.id)));
    const known = new Map<string, string>();
    if (others.length) {
      const rows = await tx.query<{ source: string; event_id: string; payload_hash: string }[]>(
        `SELECT source, event_id, payload_hash FROM accepted_events
         WHERE tenant_id = $1 AND (source, event_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
        [tenantId, others.map((k) => k.source), others.map((k) => k.id)],
      );
      for (const r of rows) known.set(keyOf(r.source, r.event_id), r.payload_hash);
    }
    const outcomes = keys.map((k): ClaimOutcome => {
      const key = keyOf(k.source, k.id);
      if (claimed.has(key)) return 'accepted';
      return known.get(key) === k.payloadHash ? 'duplicate' : 'conflict';
    });
    const accepted = outcomes.flatMap((o, i) => (o === 'accepted' ? [i] : []));
    if (accepted.length) await publish(accepted);
    return outcomes;
  }

  /** Forgets keys older than the lateness window allows events to be (they can no longer arrive). */
  async prune(olderThan: Date): Promise<number> {
    const [, count] = await this.dataSource.query<[unknown, number]>(
      `DELETE FROM accepted_events WHERE accepted_at < $1`,
      [olderThan],
    );
    return count;
  }
}

const keyOf = (source: string, id: string) => `${source}\u0000${id}`;
const compareKeys = (a: EventKey, b: EventKey) =>
  a.source === b.source ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.source < b.source ? -1 : 1;
