import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ClickHouse } from './client';
import { raw, sql } from './escape';

const LEDGER = 'schema_migrations';
const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  checksum: string;
  statements: string[];
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** Splits a migration file into statements: `;` at a line end ends one; `--` lines are comments. */
export function splitStatements(text: string): string[] {
  const withoutComments = text
    .split('\n')
    .filter((line) => !line.trim().startsWith('--'))
    .join('\n');
  return withoutComments
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Reads `NNNN_name.sql` files from a directory, ordered by version; refuses gaps and repeats. */
export async function readMigrations(dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = FILE_NAME.exec(file);
    if (!match) throw new MigrationError(`migration file name must be NNNN_name.sql: ${file}`);
    const text = await readFile(path.join(dir, file), 'utf8');
    const version = Number(match[1]);
    if (version !== migrations.length + 1) {
      throw new MigrationError(`migration ${file}: expected version ${migrations.length + 1}`);
    }
    migrations.push({
      version,
      name: match[2],
      checksum: createHash('sha256').update(text).digest('hex'),
      statements: splitStatements(text),
    });
  }
  return migrations;
}

/**
 * Applies pending migrations in order and records each in a ledger table. Statements must be
 * idempotent (`IF NOT EXISTS`) so a crash between a statement and its ledger row is harmless.
 * An applied migration whose file changed is refused.
 */
export async function migrateClickHouse(ch: ClickHouse, dir: string): Promise<{ applied: number[] }> {
  await ch.command(
    raw(`CREATE TABLE IF NOT EXISTS ${LEDGER} (version UInt32, name String, checksum String, applied_at DateTime)
      ENGINE = MergeTree ORDER BY version`),
  );
  const done = new Map(
    (
      await ch.query<{ version: number; checksum: string }>(
        raw(`SELECT DISTINCT version, checksum FROM ${LEDGER}`),
      )
    ).map((row) => [Number(row.version), row.checksum]),
  );
  const applied: number[] = [];
  for (const migration of await readMigrations(dir)) {
    const recorded = done.get(migration.version);
    if (recorded !== undefined) {
      if (recorded !== migration.checksum) {
        throw new MigrationError(
          `migration ${migration.version}_${migration.name} changed after it was applied`,
        );
      }
      continue;
    }
    for (const statement of migration.statements) await ch.command(raw(statement));
    await ch.command(
      sql`INSERT INTO ${raw(LEDGER)} (version, name, checksum, applied_at) VALUES (${migration.version}, ${migration.name}, ${migration.checksum}, now())`,
    );
    applied.push(migration.version);
  }
  return { applied };
}
