import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';

export class RollupLedgerTable1764200000000 implements MigrationInterface {
  name = 'RollupLedgerTable1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE SEQUENCE rollup_mark_seq');
    await q.query(`CREATE TABLE rollup_stale_hours (
      account_id text NOT NULL,
      hour_ms bigint NOT NULL,
      mark bigint NOT NULL,
      first_marked_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      last_marked_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (account_id, hour_ms)
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE rollup_stale_hours');
    await q.query('DROP SEQUENCE rollup_mark_seq');
  }
}

export class RollupDaysTable1764400000000 implements MigrationInterface {
  name = 'RollupDaysTable1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE rollup_days (
      account_id text NOT NULL,
      day_ms bigint NOT NULL,
      built_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (account_id, day_ms)
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE rollup_days');
  }
}

export interface StaleHour {
  accountId: string;
  hourMs: number;
  /** The mark this hour carried when read; a rebuild clears it only if no later mark came. */
  mark: string;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/**
 * Which account-hours have raw usage their rollups do not reflect yet. The sink marks an hour
 * after its insert returned; the rollup builder reads a mark, rebuilds the hour from raw data and
 * clears the mark only if nothing marked it again meanwhile; queries read marked hours from raw
 * data. So a rollup is used only for hours where it equals the deduplicated raw data.
 */
export class RollupLedger {
  constructor(private readonly db: DataSource) {}

  /** Marks the hours as stale (after their raw rows are stored). */
  async markStale(hours: readonly { accountId: string; hourMs: number }[]): Promise<void> {
    if (hours.length === 0) return;
    // Sorted, so two sinks marking overlapping hours lock rows in the same order.
    const sorted = [...hours].sort((a, b) =>
      a.accountId === b.accountId ? a.hourMs - b.hourMs : a.accountId < b.accountId ? -1 : 1,
    );
    await this.db.query(
      `INSERT INTO rollup_stale_hours (account_id, hour_ms, mark)
       SELECT a, h, nextval('rollup_mark_seq') FROM unnest($1::text[], $2::bigint[]) AS u(a, h)
       ON CONFLICT (account_id, hour_ms)
       DO UPDATE SET mark = EXCLUDED.mark, last_marked_at = clock_timestamp()`,
      [sorted.map((h) => h.accountId), sorted.map((h) => h.hourMs)],
    );
  }

  /**
   * Hours due for a rebuild: quiet for `settleMs`, or stale for longer than `maxStaleMs` (an hour
   * that keeps receiving events is rebuilt now and then rather than never). Oldest first.
   */
  async due(limit: number, settleMs: number, maxStaleMs: number): Promise<StaleHour[]> {
    const rows = await this.db.query<{ account_id: string; hour_ms: string; mark: string }[]>(
      `SELECT account_id, hour_ms::text, mark::text FROM rollup_stale_hours
       WHERE last_marked_at < clock_timestamp() - make_interval(secs => $2::double precision / 1000)
          OR first_marked_at < clock_timestamp() - make_interval(secs => $3::double precision / 1000)
       ORDER BY first_marked_at LIMIT $1`,
      [limit, settleMs, maxStaleMs],
    );
    return rows.map((r) => ({ accountId: r.account_id, hourMs: Number(r.hour_ms), mark: r.mark }));
  }

  /** Clears the mark read before a rebuild; a later mark keeps the hour stale. */
  async clear(hour: StaleHour): Promise<void> {
    await this.db.query(
      'DELETE FROM rollup_stale_hours WHERE account_id = $1 AND hour_ms = $2 AND mark <= $3',
      [hour.accountId, hour.hourMs, hour.mark],
    );
  }

  /** Records that the account-day's daily rollup was built (from current hourly rollups). */
  async dayBuilt(accountId: string, dayMs: number): Promise<void> {
    await this.db.query(
      `INSERT INTO rollup_days (account_id, day_ms) VALUES ($1, $2)
       ON CONFLICT (account_id, day_ms) DO UPDATE SET built_at = clock_timestamp()`,
      [accountId, dayMs],
    );
  }

  /**
   * What a query over [fromMs, toMs) may read from rollups: the stale hours (read raw instead) and
   * the days whose daily rollup is current (built, and no stale hour in them).
   */
  async state(
    accountId: string,
    fromMs: number,
    toMs: number,
  ): Promise<{ staleHours: number[]; currentDays: number[] }> {
    const [staleHours, built] = await Promise.all([
      this.staleHours(accountId, fromMs, toMs),
      this.db.query<{ day_ms: string }[]>(
        'SELECT day_ms::text FROM rollup_days WHERE account_id = $1 AND day_ms >= $2 AND day_ms < $3 ORDER BY day_ms',
        [accountId, Math.floor(fromMs / DAY_MS) * DAY_MS, toMs],
      ),
    ]);
    const staleDays = new Set(staleHours.map((h) => Math.floor(h / DAY_MS) * DAY_MS));
    const currentDays = built.map((r) => Number(r.day_ms)).filter((d) => !staleDays.has(d));
    return { staleHours, currentDays };
  }

  /** The stale hours of an account within [fromMs, toMs). */
  async staleHours(accountId: string, fromMs: number, toMs: number): Promise<number[]> {
    const rows = await this.db.query<{ hour_ms: string }[]>(
      `SELECT hour_ms::text FROM rollup_stale_hours
       WHERE account_id = $1 AND hour_ms >= $2 AND hour_ms < $3 ORDER BY hour_ms`,
      [accountId, Math.floor(fromMs / HOUR_MS) * HOUR_MS, toMs],
    );
    return rows.map((r) => Number(r.hour_ms));
  }

  /** How many hours wait for a rebuild, and the oldest mark's age (metrics, tests). */
  async backlog(accountId?: string): Promise<{ hours: number; oldestMs: number }> {
    const [row] = await this.db.query<{ hours: string; oldest_ms: string | null }[]>(
      `SELECT count(*)::text AS hours,
              (extract(epoch FROM clock_timestamp() - min(first_marked_at)) * 1000)::bigint::text AS oldest_ms
       FROM rollup_stale_hours WHERE $1::text IS NULL OR account_id = $1`,
      [accountId ?? null],
    );
    return { hours: Number(row?.hours ?? 0), oldestMs: Number(row?.oldest_ms ?? 0) };
  }
}
