import { AsyncLocalStorage } from 'node:async_hooks';
import { createClient, type ClickHouseClient as NativeClient } from '@clickhouse/client';
import { quoteIdentifier, type SqlFragment } from './escape';

export interface ClickHouseOptions {
  url: string;
  database: string;
  username?: string;
  password?: string;
  requestTimeoutMs?: number;
}

/** Settings of the queries made inside `inBackground` (absent: the server's defaults). */
const querySettings = new AsyncLocalStorage<{ max_threads: number }>();

/**
 * Runs `work` with every ClickHouse statement it makes on one server thread, so that refreshes nobody
 * waits for leave the other cores to the requests somebody does wait for (ClickHouse takes every
 * core for each query by default, and the services share the machine with it).
 */
export function inBackground<T>(work: () => Promise<T>): Promise<T> {
  return querySettings.run({ max_threads: 1 }, work);
}

/**
 * A thin client over @clickhouse/client that takes only SQL built with `sql`/`literal`, so no
 * unescaped input reaches the server. Works with ClickHouse 18.16 and current releases.
 */
export class ClickHouse {
  private readonly client: NativeClient;

  constructor(readonly options: ClickHouseOptions) {
    this.client = createClient({
      url: options.url,
      database: options.database,
      username: options.username ?? 'default',
      password: options.password ?? '',
      request_timeout: options.requestTimeoutMs ?? 30_000,
    });
  }

  /** Rows of a SELECT, parsed from JSONEachRow. 64-bit integers arrive as strings. */
  async query<T>(statement: SqlFragment): Promise<T[]> {
    const result = await this.client.query({
      query: statement.text,
      format: 'JSONEachRow',
      clickhouse_settings: querySettings.getStore(),
    });
    return result.json<T>();
  }

  /** A statement without a result set (DDL, INSERT ... SELECT). */
  async command(statement: SqlFragment): Promise<void> {
    await this.client.command({ query: statement.text, clickhouse_settings: querySettings.getStore() });
  }

  /** Inserts rows as JSONEachRow; the server parses the values, so no escaping is involved. */
  async insert<T extends Record<string, unknown>>(table: string, rows: readonly T[]): Promise<void> {
    if (rows.length === 0) return;
    await this.client.insert({ table: quoteIdentifier(table), values: rows, format: 'JSONEachRow' });
  }

  async ping(): Promise<boolean> {
    const result = await this.client.ping();
    return result.success;
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** Creates the database if it is missing (connecting without selecting it). */
  static async ensureDatabase(options: ClickHouseOptions): Promise<void> {
    const admin = createClient({
      url: options.url,
      username: options.username ?? 'default',
      password: options.password ?? '',
    });
    try {
      await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(options.database)}` });
    } finally {
      await admin.close();
    }
  }
}
