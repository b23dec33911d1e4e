import { randomUUID } from 'node:crypto';

/** A variable the stack's global setup exported; fails loudly when the stack is not up. */
export function stackVar(
  name: 'KAFKA_BROKERS' | 'KAFKA_CONTROL' | 'CLICKHOUSE_URL' | 'POSTGRES_URL' | 'ADMIN_KEY',
): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the test through its integration/e2e jest project`);
  return value;
}

export const kafkaBrokers = (): string[] => stackVar('KAFKA_BROKERS').split(',');

/** A name no other test uses (topics, groups, databases), so tests never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

/** Polls until `check` returns a value (not undefined) or the time runs out. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 20_000, intervalMs = 100, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
