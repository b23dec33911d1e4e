import { createClient, type ClickHouseClient as NativeClient } from '@clickhouse/client';
import { quoteIdentifier, type SqlFragment } from './escape';

export interface ClickHouseOptions {
  url: string;
  database: string;
  username?: string;
  password?: string;
  requestTimeoutMs?: number;
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
    const result = await this.client.query({ query: statement.text, format: 'JSONEachRow' });
    return result.json<T>();
  }

  /** A statement without a result set (DDL, INSERT ... SELECT). */
  async command(statement: SqlFragment): Promise<void> {
    await this.client.command({ query: statement.text });
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
