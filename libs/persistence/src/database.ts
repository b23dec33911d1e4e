import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';

export interface DatabaseOptions {
  /** postgres://user@host:port/database — the service's own database. */
  url: string;
  entities?: DataSourceOptions['entities'];
  migrations?: DataSourceOptions['migrations'];
  poolSize?: number;
  /** How long a query waits for an answer before it fails (default 60 s). */
  queryTimeoutMs?: number;
}

const CONNECT_TIMEOUT_MS = 5_000;
const QUERY_TIMEOUT_MS = 60_000;

const DB_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The database named in a Postgres URL, checked to be a plain name. */
export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!DB_NAME.test(name))
    throw new Error(`database name must match ${DB_NAME.source}: ${JSON.stringify(name)}`);
  return name;
}

/** Creates the service's database when it does not exist yet (connecting to `postgres`). */
export async function ensureDatabase(url: string): Promise<void> {
  const name = databaseName(url);
  const adminUrl = new URL(url);
  adminUrl.pathname = '/postgres';
  const client = new Client({ connectionString: adminUrl.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } catch (err) {
        // Another instance created it first.
        if ((err as { code?: string }).code !== '42P04') throw err;
      }
    }
  } finally {
    await client.end();
  }
}

export function createDataSource(options: DatabaseOptions): DataSource {
  return new DataSource({
    type: 'postgres',
    url: options.url,
    entities: options.entities ?? [],
    migrations: options.migrations ?? [],
    migrationsTableName: 'schema_migrations',
    synchronize: false,
    migrationsRun: false,
    poolSize: options.poolSize ?? 10,
    // A database that stops answering must fail requests, not hold them: connecting gives up
    // after 5 s, a query after its timeout (60 s by default: the longest statement is a batch
    // well under that), and TCP keep-alive finds connections a network failure left half open.
    connectTimeoutMS: CONNECT_TIMEOUT_MS,
    extra: { query_timeout: options.queryTimeoutMs ?? QUERY_TIMEOUT_MS, keepAlive: true },
  });
}

/**
 * Opens the service's database: creates it if missing, connects, and applies pending migrations
 * (each in its own transaction; the migrations table makes a second run a no-op).
 */
export async function openDatabase(options: DatabaseOptions): Promise<DataSource> {
  await ensureDatabase(options.url);
  const dataSource = createDataSource(options);
  await dataSource.initialize();
  try {
    await dataSource.runMigrations({ transaction: 'each' });
  } catch (err) {
    await dataSource.destroy();
    throw err;
  }
  return dataSource;
}

/**
 * A freshly named database on a Postgres server, migrated, for one test file or tool run;
 * `drop` closes and removes it.
 */
export async function openScratchDatabase(
  serverUrl: string,
  prefix: string,
  options: Omit<DatabaseOptions, 'url'> = {},
): Promise<{ db: DataSource; url: string; drop: () => Promise<void> }> {
  const url = `${serverUrl}/${prefix}_${randomUUID().replace(/-/g, '').slice(0, 12)}`.toLowerCase();
  const db = await openDatabase({ ...options, url });
  const drop = async () => {
    if (db.isInitialized) await db.destroy();
    const server = createDataSource({ url: `${serverUrl}/postgres` });
    await server.initialize();
    try {
      await server.query(`DROP DATABASE IF EXISTS "${databaseName(url)}" WITH (FORCE)`);
    } finally {
      await server.destroy();
    }
  };
  return { db, url, drop };
}
