import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';

export class ClosedPeriodsTable1764500000000 implements MigrationInterface {
  name = 'ClosedPeriodsTable1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE closed_periods (
      account_id text PRIMARY KEY,
      closed_through_ms bigint NOT NULL
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE closed_periods');
  }
}

/**
 * How far each account's usage has been invoiced for good (the end of its latest finalized
 * period), as billing announced it: events before it are late for meters that refuse late
 * events. Only ever moves forward.
 */
export class ClosedPeriods {
  constructor(private readonly db: DataSource) {}

  async close(accountId: string, throughMs: number): Promise<void> {
    await this.db.query(
      `INSERT INTO closed_periods (account_id, closed_through_ms) VALUES ($1, $2)
       ON CONFLICT (account_id) DO UPDATE SET closed_through_ms = GREATEST(closed_periods.closed_through_ms, EXCLUDED.closed_through_ms)`,
      [accountId, throughMs],
    );
  }

  async all(): Promise<Map<string, number>> {
    const rows = await this.db.query<{ account_id: string; closed_through_ms: string }[]>(
      'SELECT account_id, closed_through_ms::text FROM closed_periods',
    );
    return new Map(rows.map((r) => [r.account_id, Number(r.closed_through_ms)]));
  }
}
