import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { AppError, type Actor, type DomainEventEnvelope } from '@metering/contracts';
import { SET_ACCOUNT_SQL } from './schema';

/** Which rows a transaction may see: one account's, or every account's (platform admin, system jobs). */
export type AccountScope = { accountId: string } | 'all-accounts';

export interface EventContext {
  accountId: string;
  actor: Actor;
  correlationId?: string;
}

export interface NewEvent {
  type: string;
  data: object;
  tenantId?: string;
}

export interface StoredEvent {
  position: string;
  eventId: string;
  streamId: string;
  streamType: string;
  version: number;
  type: string;
  accountId: string;
  tenantId?: string;
  data: Record<string, unknown>;
  actor: Actor;
  correlationId?: string;
  occurredAt: string;
}

export interface AppendInput {
  streamId: string;
  streamType: string;
  /** The version the decision was made on; 0 for a new stream. */
  expectedVersion: number;
  events: readonly NewEvent[];
  context: EventContext;
}

/** Two writers decided on the same version of a stream; the later one must reload and retry. */
export class ConcurrencyError extends AppError {
  constructor(streamId: string, expectedVersion: number) {
    super('conflict', 'version_conflict', `stream ${streamId} changed since version ${expectedVersion}`, {
      streamId,
      expectedVersion,
    });
  }
}

interface EventRow {
  position: string;
  event_id: string;
  stream_id: string;
  stream_type: string;
  version: number;
  type: string;
  account_id: string;
  tenant_id: string | null;
  data: Record<string, unknown>;
  actor: Actor;
  correlation_id: string | null;
  occurred_at: Date;
}

const toStored = (r: EventRow): StoredEvent => ({
  position: String(r.position),
  eventId: r.event_id,
  streamId: r.stream_id,
  streamType: r.stream_type,
  version: r.version,
  type: r.type,
  accountId: r.account_id,
  ...(r.tenant_id ? { tenantId: r.tenant_id } : {}),
  data: r.data,
  actor: r.actor,
  ...(r.correlation_id ? { correlationId: r.correlation_id } : {}),
  occurredAt: r.occurred_at.toISOString(),
});

export interface EventStoreOptions {
  /** The service that owns the store, stamped on published events. */
  source: string;
  /** Topic the outbox publishes to (key: account id). */
  topic: string;
  /** Keys of event data kept in the store but left out of published events (e.g. secret hashes). */
  unpublishedFields?: readonly string[];
}

/**
 * Append-only event streams in Postgres with optimistic concurrency. An append writes the
 * events, the stream's new version and the outbox rows in the caller's transaction, so
 * projections updated in that transaction, the events and their publication commit or roll
 * back together.
 */
export class EventStore {
  private readonly appendedIn = new WeakMap<EntityManager, StoredEvent[]>();
  private readonly committedListeners: ((events: StoredEvent[]) => void)[] = [];

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: EventStoreOptions,
  ) {}

  /** Runs `work` in one transaction that sees only the rows of `scope` (row-level security). */
  async inScope<T>(scope: AccountScope, work: (tx: EntityManager) => Promise<T>): Promise<T> {
    const appended: StoredEvent[] = [];
    const result = await this.dataSource.transaction(async (tx) => {
      this.appendedIn.set(tx, appended);
      await tx.query(SET_ACCOUNT_SQL, scope === 'all-accounts' ? ['', 'on'] : [scope.accountId, 'off']);
      return work(tx);
    });
    if (appended.length) for (const listener of this.committedListeners) listener(appended);
    return result;
  }

  /** Calls `listener` with the events of each transaction of `inScope`, once it has committed. */
  onCommitted(listener: (events: StoredEvent[]) => void): void {
    this.committedListeners.push(listener);
  }

  /** A stream's current version (0 when it does not exist), within the transaction's scope. */
  async currentVersion(tx: EntityManager, streamId: string): Promise<number> {
    const [row] = await tx.query<{ version: number }[]>(
      `SELECT version FROM es_streams WHERE stream_id = $1`,
      [streamId],
    );
    return row?.version ?? 0;
  }

  async append(tx: EntityManager, input: AppendInput): Promise<StoredEvent[]> {
    const { streamId, streamType, expectedVersion, events, context } = input;
    if (events.length === 0) return [];
    const newVersion = expectedVersion + events.length;
    const runner = tx.queryRunner!;
    const claimed =
      expectedVersion === 0
        ? await runner.query(
            `INSERT INTO es_streams (stream_id, stream_type, account_id, version) VALUES ($1, $2, $3, $4)
             ON CONFLICT (stream_id) DO NOTHING`,
            [streamId, streamType, context.accountId, newVersion],
            true,
          )
        : await runner.query(
            `UPDATE es_streams SET version = $3 WHERE stream_id = $1 AND version = $2`,
            [streamId, expectedVersion, newVersion],
            true,
          );
    if (claimed.affected !== 1) throw new ConcurrencyError(streamId, expectedVersion);

    const occurredAt = new Date();
    const stored: StoredEvent[] = [];
    for (const [i, event] of events.entries()) {
      const [row] = await tx.query<EventRow[]>(
        `INSERT INTO es_events (event_id, stream_id, stream_type, version, type, account_id, tenant_id, data, actor, correlation_id, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
        [
          randomUUID(),
          streamId,
          streamType,
          expectedVersion + i + 1,
          event.type,
          context.accountId,
          event.tenantId ?? null,
          event.data,
          context.actor,
          context.correlationId ?? null,
          occurredAt,
        ],
      );
      stored.push(toStored(row));
    }
    // Listeners of onCommitted hear of these once the transaction commits (inScope).
    this.appendedIn.get(tx)?.push(...stored);
    for (const event of stored) {
      await tx.query(`INSERT INTO es_outbox (event_id, topic, key, payload) VALUES ($1, $2, $3, $4)`, [
        event.eventId,
        this.options.topic,
        event.accountId,
        this.envelope(event),
      ]);
    }
    return stored;
  }

  /** A stream's events in order (within the transaction's account scope). */
  async readStream(tx: EntityManager, streamId: string): Promise<StoredEvent[]> {
    const rows = await tx.query<EventRow[]>(`SELECT * FROM es_events WHERE stream_id = $1 ORDER BY version`, [
      streamId,
    ]);
    return rows.map(toStored);
  }

  /** Every event after `afterPosition`, in commit order, `limit` at a time. */
  async readAll(tx: EntityManager, afterPosition: string, limit: number): Promise<StoredEvent[]> {
    const rows = await tx.query<EventRow[]>(
      `SELECT * FROM es_events WHERE position > $1 ORDER BY position LIMIT $2`,
      [afterPosition, limit],
    );
    return rows.map(toStored);
  }

  envelope(event: StoredEvent): DomainEventEnvelope {
    return {
      eventId: event.eventId,
      type: event.type,
      schemaVersion: 1,
      occurredAt: event.occurredAt,
      accountId: event.accountId,
      ...(event.tenantId ? { tenantId: event.tenantId } : {}),
      aggregateType: event.streamType,
      aggregateId: event.streamId,
      aggregateVersion: event.version,
      actor: event.actor,
      source: this.options.source,
      ...(event.correlationId ? { correlationId: event.correlationId } : {}),
      data: Object.fromEntries(
        Object.entries(event.data).filter(([key]) => !this.options.unpublishedFields?.includes(key)),
      ),
    };
  }
}
