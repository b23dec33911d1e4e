import type { EntityManager } from 'typeorm';
import type { EventStore, StoredEvent } from './event-store';

export interface Projection {
  /** Read-model tables the projection owns; emptied before a rebuild. */
  tables: readonly string[];
  apply(tx: EntityManager, events: StoredEvent[]): Promise<void>;
}

/**
 * Rebuilds read models from the event log in one transaction: the tables are emptied and every
 * event replayed in commit order through the same `apply` the live path uses. Pass a store on
 * the owner connection (it must see and rewrite every account's rows).
 */
export async function rebuildProjection(
  ownerStore: EventStore,
  projection: Projection,
  batch = 1_000,
): Promise<number> {
  return ownerStore.inScope('all-accounts', async (tx) => {
    for (const table of projection.tables) await tx.query(`DELETE FROM ${table}`);
    let after = '0';
    let replayed = 0;
    for (;;) {
      const events = await ownerStore.readAll(tx, after, batch);
      if (events.length === 0) return replayed;
      await projection.apply(tx, events);
      replayed += events.length;
      after = events[events.length - 1].position;
    }
  });
}
