import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stackVar, uniqueName } from '@metering/testing';
import { ClickHouse, inBackground } from './client';
import { ident, raw, sql } from './escape';
import { MigrationError, migrateClickHouse } from './migrations';

const HOSTILE = [
  "it's",
  'back\\slash',
  'trailing\\',
  "'; DROP TABLE users; --",
  "\\'; DROP TABLE users; --",
  'nul\0byte',
  'tab\tnewline\nreturn\r',
  '\u0001\u001f\u007f',
  'ünïcødé ✓ 日本語 🚀',
  '`backquote` "double"',
  '?{param:String}',
  '',
];

describe(ClickHouse.name, () => {
  let ch: ClickHouse;
  const database = uniqueName('it_ch');

  beforeAll(async () => {
    const options = { url: stackVar('CLICKHOUSE_URL'), database };
    await ClickHouse.ensureDatabase(options);
    ch = new ClickHouse(options);
  });

  afterAll(async () => {
    await ch.command(sql`DROP DATABASE IF EXISTS ${ident(database)}`);
    await ch.close();
  });

  it('round-trips hostile strings through escaped literals', async () => {
    await ch.command(raw('CREATE TABLE strings (i UInt32, s String) ENGINE = MergeTree ORDER BY i'));
    for (const [i, s] of HOSTILE.entries()) {
      await ch.command(sql`INSERT INTO strings (i, s) VALUES (${i}, ${s})`);
    }
    const rows = await ch.query<{ i: number; s: string }>(raw('SELECT i, s FROM strings ORDER BY i'));
    expect(rows.map((r) => r.s)).toEqual(HOSTILE);
    for (const [i, s] of HOSTILE.entries()) {
      const found = await ch.query<{ i: number }>(sql`SELECT i FROM strings WHERE s = ${s}`);
      expect(found.map((r) => Number(r.i))).toEqual([i]);
    }
    // The table survived every attempted injection.
    const [count] = await ch.query<{ n: string }>(raw('SELECT count() AS n FROM strings'));
    expect(Number(count.n)).toBe(HOSTILE.length);
  });

  it('runs the statements made inside inBackground on one server thread, and only those', async () => {
    const maxThreads = async () => {
      const [row] = await ch.query<{ value: string }>(
        raw("SELECT value FROM system.settings WHERE name = 'max_threads'"),
      );
      return row.value;
    };
    const before = await maxThreads();
    expect(await inBackground(maxThreads)).toBe('1');
    expect(await inBackground(() => Promise.resolve().then(maxThreads))).toBe('1');
    expect(await maxThreads()).toBe(before);
    expect(before).not.toBe('1');
  });

  it('runs migrations once, and a second run applies nothing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ch-migrations-'));
    await writeFile(
      path.join(dir, '0001_first.sql'),
      'CREATE TABLE IF NOT EXISTS m1 (a UInt8) ENGINE = MergeTree ORDER BY a;\n',
    );
    await writeFile(
      path.join(dir, '0002_second.sql'),
      '-- two statements\nCREATE TABLE IF NOT EXISTS m2 (a UInt8) ENGINE = MergeTree ORDER BY a;\nINSERT INTO m2 VALUES (7);\n',
    );
    expect(await migrateClickHouse(ch, dir)).toEqual({ applied: [1, 2] });
    expect(await migrateClickHouse(ch, dir)).toEqual({ applied: [] });
    const rows = await ch.query<{ a: number }>(raw('SELECT a FROM m2'));
    expect(rows).toEqual([{ a: 7 }]);
  });

  it('refuses a migration whose file changed after it was applied', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ch-migrations-'));
    const file = path.join(dir, '0001_only.sql');
    await writeFile(file, 'CREATE TABLE IF NOT EXISTS changed (a UInt8) ENGINE = MergeTree ORDER BY a;\n');
    const other = new ClickHouse({ url: stackVar('CLICKHOUSE_URL'), database });
    await other.command(raw('DROP TABLE IF EXISTS schema_migrations'));
    await migrateClickHouse(other, dir);
    await writeFile(file, 'CREATE TABLE IF NOT EXISTS changed (a UInt16) ENGINE = MergeTree ORDER BY a;\n');
    await expect(migrateClickHouse(other, dir)).rejects.toThrow(MigrationError);
    await other.close();
  });
});
