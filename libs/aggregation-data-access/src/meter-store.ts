import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { AppError } from '@metering/contracts';
import type { Meter } from '@metering/meters';

export class MetersTable1764100000000 implements MigrationInterface {
  name = 'MetersTable1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE meters (
      key text PRIMARY KEY,
      definition jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE meters');
  }
}

/** Meters created over the API; immutable once created (usage already counted depends on them). */
export class MeterStore {
  constructor(private readonly db: DataSource) {}

  async list(): Promise<Meter[]> {
    const rows = await this.db.query<{ definition: Meter }[]>('SELECT definition FROM meters ORDER BY key');
    return rows.map((r) => r.definition);
  }

  /** Stores a new meter; a key already taken is a conflict. */
  async create(meter: Meter): Promise<void> {
    const inserted = await this.db.query<unknown[]>(
      'INSERT INTO meters (key, definition) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING key',
      [meter.key, JSON.stringify(meter)],
    );
    if (inserted.length === 0) {
      throw new AppError('conflict', 'meter_exists', `a meter ${meter.key} already exists`, { field: 'key' });
    }
  }
}
