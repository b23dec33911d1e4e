import type { MigrationInterface, QueryRunner } from 'typeorm';
import { stackVar, uniqueName } from '@metering/testing';
import { createDataSource, databaseName, openDatabase } from './database';

class CreateWidgets1700000000001 implements MigrationInterface {
  name = 'CreateWidgets1700000000001';
  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE TABLE widgets (id text PRIMARY KEY)');
    await q.query(`INSERT INTO widgets VALUES ('w1')`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE widgets');
  }
}

describe(openDatabase.name, () => {
  const url = () => `${stackVar('POSTGRES_URL')}/${uniqueName('it_db').toLowerCase()}`;

  it('creates a missing database and runs migrations exactly once across two boots', async () => {
    const dbUrl = url();
    const first = await openDatabase({ url: dbUrl, migrations: [CreateWidgets1700000000001] });
    await first.destroy();
    // Second boot: the migration is recorded, so its non-idempotent statements do not run again.
    const second = await openDatabase({ url: dbUrl, migrations: [CreateWidgets1700000000001] });
    try {
      expect(await second.query('SELECT id FROM widgets')).toEqual([{ id: 'w1' }]);
      const ran = await second.query('SELECT name FROM schema_migrations');
      expect(ran).toEqual([{ name: 'CreateWidgets1700000000001' }]);
    } finally {
      await second.destroy();
      const admin = createDataSource({ url: `${stackVar('POSTGRES_URL')}/postgres` });
      await admin.initialize();
      await admin.query(`DROP DATABASE IF EXISTS "${databaseName(dbUrl)}"`);
      await admin.destroy();
    }
  });

  it('refuses a database name that is not a plain identifier', () => {
    expect(() => databaseName('postgres://h/x";DROP')).toThrow(/database name/);
  });
});

describe(createDataSource.name, () => {
  it('fails a query that gets no answer within its query timeout instead of waiting for it', async () => {
    const db = createDataSource({ url: `${stackVar('POSTGRES_URL')}/postgres`, queryTimeoutMs: 300 });
    await db.initialize();
    try {
      const started = Date.now();
      await expect(db.query('SELECT pg_sleep(2)')).rejects.toThrow('Query read timeout');
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      await db.destroy();
    }
  });
});
