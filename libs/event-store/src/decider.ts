import type { EntityManager } from 'typeorm';
import type { EventContext, EventStore, NewEvent, StoredEvent } from './event-store';

/**
 * An aggregate as pure functions (the decider pattern): `decide` turns a command and the current
 * state into events (or throws a domain error), `evolve` folds an event into the state.
 */
export interface Decider<Command, Event extends NewEvent, State> {
  initialState: State;
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
}

export interface HandleInput<Command> {
  streamId: string;
  streamType: string;
  command: Command;
  context: EventContext;
  /** Updates read models from the new events, in the same transaction. */
  project?: (tx: EntityManager, events: StoredEvent[]) => Promise<void>;
}

/**
 * Loads a stream, decides, appends at the loaded version and projects, all in `tx`. A
 * concurrent writer makes the append fail with ConcurrencyError rather than overwrite.
 */
export async function handleCommand<Command, Event extends NewEvent, State>(
  store: EventStore,
  tx: EntityManager,
  decider: Decider<Command, Event, State>,
  input: HandleInput<Command>,
): Promise<{ state: State; events: StoredEvent[] }> {
  const history = await store.readStream(tx, input.streamId);
  const current = history.reduce(
    (state, e) =>
      decider.evolve(state, { type: e.type, data: e.data, tenantId: e.tenantId } as unknown as Event),
    decider.initialState,
  );
  const decided = decider.decide(input.command, current);
  const stored = await store.append(tx, {
    streamId: input.streamId,
    streamType: input.streamType,
    expectedVersion: history.length,
    events: decided,
    context: input.context,
  });
  if (input.project) await input.project(tx, stored);
  return { state: decided.reduce((state, event) => decider.evolve(state, event), current), events: stored };
}
