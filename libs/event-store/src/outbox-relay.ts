import type { DataSource } from 'typeorm';

export type Publish = (topic: string, messages: { key: string; value: string }[]) => Promise<void>;

export interface OutboxRelayOptions {
  batchSize?: number;
  idleMs?: number;
  onError?: (err: unknown) => void;
}

interface OutboxRow {
  id: string;
  topic: string;
  key: string;
  payload: unknown;
}

/**
 * Publishes committed outbox rows to Kafka and marks them published. Runs on the owner
 * connection (it sees every account). A crash after publishing but before marking publishes
 * those rows again on restart: delivery is at least once, and consumers dedupe by event id.
 */
export class OutboxRelay {
  private running = false;
  private loop?: Promise<void>;
  private wake?: () => void;

  constructor(
    private readonly dataSource: DataSource,
    private readonly publish: Publish,
    private readonly options: OutboxRelayOptions = {},
  ) {}

  /** Publishes one batch of pending rows; returns how many. */
  async relayOnce(): Promise<number> {
    return this.dataSource.transaction(async (tx) => {
      const rows = await tx.query<OutboxRow[]>(
        `SELECT id, topic, key, payload FROM es_outbox WHERE published_at IS NULL
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.options.batchSize ?? 500],
      );
      if (rows.length === 0) return 0;
      const byTopic = new Map<string, { key: string; value: string }[]>();
      for (const row of rows) {
        const list = byTopic.get(row.topic) ?? [];
        list.push({ key: row.key, value: JSON.stringify(row.payload) });
        byTopic.set(row.topic, list);
      }
      for (const [topic, messages] of byTopic) await this.publish(topic, messages);
      await tx.query(`UPDATE es_outbox SET published_at = now() WHERE id = ANY($1::bigint[])`, [
        rows.map((r) => r.id),
      ]);
      return rows.length;
    });
  }

  /** Relays continuously until stop(); `notify()` wakes it early after an append. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      let failures = 0;
      while (this.running) {
        try {
          const n = await this.relayOnce();
          failures = 0;
          if (n > 0) continue;
        } catch (err) {
          failures++;
          this.options.onError?.(err);
        }
        const delay = failures ? Math.min(200 * 2 ** failures, 10_000) : (this.options.idleMs ?? 200);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    })();
  }

  notify(): void {
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }
}
