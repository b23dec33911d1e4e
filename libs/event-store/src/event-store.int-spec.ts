import { Kafka, logLevel } from 'kafkajs';
import type { DataSource, EntityManager, MigrationInterface, QueryRunner } from 'typeorm';
import { createDataSource, databaseName, openDatabase } from '@metering/persistence';
import { eventually, kafkaBrokers, stackVar, uniqueName } from '@metering/testing';
import { KafkaClient } from '@metering/kafka';
import { handleCommand, type Decider } from './decider';
import {
  ConcurrencyError,
  EventStore,
  type EventContext,
  type NewEvent,
  type StoredEvent,
} from './event-store';
import { OutboxRelay } from './outbox-relay';
import { rebuildProjection, type Projection } from './rebuild';
import { accountPolicySql, eventStoreMigration } from './schema';

const APP_ROLE = 'es_it_app';

class CountersTable1763800000001 implements MigrationInterface {
  name = 'CountersTable1763800000001';
  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE TABLE counters (stream_id text PRIMARY KEY, account_id text NOT NULL, total integer NOT NULL)`,
    );
    for (const sql of accountPolicySql('counters')) await q.query(sql);
    await q.query(`GRANT SELECT, INSERT, UPDATE ON counters TO ${APP_ROLE}`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE counters');
  }
}

// A tiny aggregate: a counter that refuses to go below zero.
type CounterEvent = NewEvent & { type: 'counter.added'; data: { amount: number } };
type CounterCommand = { add: number };
const counter: Decider<CounterCommand, CounterEvent, { total: number }> = {
  initialState: { total: 0 },
  decide: (command, state) => {
    if (state.total + command.add < 0) throw new Error('counter would go negative');
    return [{ type: 'counter.added', data: { amount: command.add } }];
  },
  evolve: (state, event) => ({ total: state.total + event.data.amount }),
};

const countersProjection: Projection = {
  tables: ['counters'],
  async apply(tx: EntityManager, events: StoredEvent[]) {
    for (const e of events.filter((event) => event.streamType === 'counter')) {
      await tx.query(
        `INSERT INTO counters (stream_id, account_id, total) VALUES ($1, $2, $3)
         ON CONFLICT (stream_id) DO UPDATE SET total = counters.total + EXCLUDED.total`,
        [e.streamId, e.accountId, (e.data as { amount: number }).amount],
      );
    }
  },
};

const context = (accountId: string): EventContext => ({
  accountId,
  actor: { type: 'management-key', id: 'mk_test' },
  correlationId: 'corr-1',
});

describe(EventStore.name, () => {
  let owner: DataSource;
  let app: DataSource;
  let appSingle: DataSource;
  let store: EventStore;
  let ownerStore: EventStore;
  const topic = `${uniqueName('it.registry')}.events.v1`;
  const dbUrl = `${stackVar('POSTGRES_URL')}/${uniqueName('it_es').toLowerCase()}`;

  beforeAll(async () => {
    owner = await openDatabase({
      url: dbUrl,
      migrations: [
        eventStoreMigration({ appRole: APP_ROLE, appPassword: APP_ROLE }),
        CountersTable1763800000001,
      ],
    });
    const appUrl = new URL(dbUrl);
    appUrl.username = APP_ROLE;
    appUrl.password = APP_ROLE;
    app = createDataSource({ url: appUrl.toString(), poolSize: 4 });
    await app.initialize();
    appSingle = createDataSource({ url: appUrl.toString(), poolSize: 1 });
    await appSingle.initialize();
    store = new EventStore(app, { source: 'it', topic });
    ownerStore = new EventStore(owner, { source: 'it', topic });
  });

  afterAll(async () => {
    await app.destroy();
    await appSingle.destroy();
    await owner.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [databaseName(dbUrl)],
    );
    await owner.destroy();
    const admin = createDataSource({ url: `${stackVar('POSTGRES_URL')}/postgres` });
    await admin.initialize();
    await admin.query(`DROP DATABASE IF EXISTS "${databaseName(dbUrl)}"`);
    await admin.destroy();
  });

  const add = (accountId: string, streamId: string, amount: number) =>
    store.inScope({ accountId }, (tx) =>
      handleCommand(store, tx, counter, {
        streamId,
        streamType: 'counter',
        command: { add: amount },
        context: context(accountId),
        project: (t, events) => countersProjection.apply(t, events),
      }),
    );

  describe('optimistic concurrency', () => {
    it('lets exactly one of two appends at the same expected version succeed', async () => {
      const account = uniqueName('acc');
      const stream = uniqueName('counter');
      await add(account, stream, 1);
      const attempt = () =>
        store.inScope({ accountId: account }, (tx) =>
          store.append(tx, {
            streamId: stream,
            streamType: 'raw',
            expectedVersion: 1,
            events: [{ type: 'counter.added', data: { amount: 1 } }],
            context: context(account),
          }),
        );
      const results = await Promise.allSettled([attempt(), attempt()]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected).toHaveLength(1);
      expect(rejected[0].reason).toBeInstanceOf(ConcurrencyError);
      const events = await store.inScope({ accountId: account }, (tx) => store.readStream(tx, stream));
      expect(events.map((e) => e.version)).toEqual([1, 2]);
    });

    it('lets only one of two writers create the same stream', async () => {
      const account = uniqueName('acc');
      const stream = uniqueName('raw');
      const create = () =>
        store.inScope({ accountId: account }, (tx) =>
          store.append(tx, {
            streamId: stream,
            streamType: 'raw',
            expectedVersion: 0,
            events: [{ type: 'counter.added', data: { amount: 1 } }],
            context: context(account),
          }),
        );
      const results = await Promise.allSettled([create(), create()]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(
        ConcurrencyError,
      );
    });

    it('refuses an expected version ahead of the stream (no gaps)', async () => {
      const account = uniqueName('acc');
      const stream = uniqueName('counter');
      await add(account, stream, 1);
      await expect(
        store.inScope({ accountId: account }, (tx) =>
          store.append(tx, {
            streamId: stream,
            streamType: 'raw',
            expectedVersion: 5,
            events: [{ type: 'counter.added', data: { amount: 1 } }],
            context: context(account),
          }),
        ),
      ).rejects.toBeInstanceOf(ConcurrencyError);
    });
  });

  describe('commit notifications', () => {
    it('tells listeners of the events a transaction appended once it committed, and nothing of a rolled-back one', async () => {
      const heard: { streamId: string; type: string }[][] = [];
      const listening = new EventStore(app, { source: 'it', topic });
      listening.onCommitted((events) =>
        heard.push(events.map((e) => ({ streamId: e.streamId, type: e.type }))),
      );
      const account = uniqueName('acc');
      const stream = uniqueName('ctr');
      const appendIn = (fail: boolean) =>
        listening.inScope({ accountId: account }, async (tx) => {
          await handleCommand(listening, tx, counter, {
            streamId: stream,
            streamType: 'counter',
            command: { add: 1 },
            context: context(account),
            project: (t, events) => countersProjection.apply(t, events),
          });
          expect(heard).toHaveLength(0); // not before the commit
          if (fail) throw new Error('roll back');
        });
      await expect(appendIn(true)).rejects.toThrow('roll back');
      expect(heard).toEqual([]);
      await appendIn(false);
      expect(heard).toEqual([[{ streamId: stream, type: 'counter.added' }]]);
    });
  });

  describe('transactional outbox', () => {
    const pendingFor = async (eventId: string) =>
      Number(
        (
          await owner.query<{ n: string }[]>(
            `SELECT count(*) AS n FROM es_outbox WHERE event_id = $1 AND published_at IS NULL`,
            [eventId],
          )
        )[0].n,
      );

    async function readTopic(expected: number): Promise<{ eventId: string }[]> {
      const kafka = new Kafka({ brokers: kafkaBrokers(), clientId: 'it-outbox', logLevel: logLevel.NOTHING });
      const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 500 });
      const seen: { eventId: string }[] = [];
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(JSON.parse(message.value!.toString()) as { eventId: string });
        },
      });
      try {
        return await eventually(() => (seen.length >= expected ? seen : undefined), {
          what: `${expected} messages`,
        });
      } finally {
        await consumer.disconnect();
      }
    }

    it('publishes a committed change after a crash between commit and publish, and never a rolled-back one', async () => {
      const account = uniqueName('acc');
      // Committed while no relay runs (the process "crashed" before publishing).
      const { events } = await add(account, uniqueName('counter'), 3);
      // Rolled back: the command's transaction fails after the append.
      const rolledBack = uniqueName('counter');
      await expect(
        store.inScope({ accountId: account }, async (tx) => {
          await handleCommand(store, tx, counter, {
            streamId: rolledBack,
            streamType: 'counter',
            command: { add: 1 },
            context: context(account),
          });
          throw new Error('projection failed');
        }),
      ).rejects.toThrow('projection failed');
      expect(await owner.query(`SELECT 1 FROM es_streams WHERE stream_id = $1`, [rolledBack])).toEqual([]);

      // The relay starts again ("restart") and publishes what was committed.
      const kafka = new KafkaClient({ brokers: kafkaBrokers(), clientId: 'it-relay' });
      const relay = new OutboxRelay(owner, (t, messages) => kafka.producer().sendRaw(t, messages));
      try {
        await eventually(async () => ((await relay.relayOnce()) === 0 ? true : undefined));
      } finally {
        await kafka.close();
      }
      expect(await pendingFor(events[0].eventId)).toBe(0);
      const published = await readTopic(1);
      const ids = published.map((p) => p.eventId);
      expect(ids).toContain(events[0].eventId);
      expect(published.find((p) => p.eventId === events[0].eventId)).toMatchObject({
        type: 'counter.added',
        accountId: account,
        aggregateVersion: 1,
        actor: { type: 'management-key', id: 'mk_test' },
        correlationId: 'corr-1',
      });
      // Nothing of the rolled-back stream was ever published.
      expect(published.every((p) => (p as { aggregateId?: string }).aggregateId !== rolledBack)).toBe(true);
    });

    it('publishes again when the relay dies after publishing but before marking', async () => {
      const account = uniqueName('acc');
      const { events } = await add(account, uniqueName('counter'), 1);
      const sent: string[] = [];
      const dying = new OutboxRelay(owner, async (_t, messages) => {
        sent.push(...messages.map((m) => (JSON.parse(m.value) as { eventId: string }).eventId));
        throw new Error('killed after publish');
      });
      await expect(dying.relayOnce()).rejects.toThrow('killed after publish');
      expect(sent).toContain(events[0].eventId);
      expect(await pendingFor(events[0].eventId)).toBe(1);

      const again: string[] = [];
      const relay = new OutboxRelay(owner, async (_t, messages) => {
        again.push(...messages.map((m) => (JSON.parse(m.value) as { eventId: string }).eventId));
      });
      while ((await relay.relayOnce()) > 0);
      expect(again).toContain(events[0].eventId);
      expect(await pendingFor(events[0].eventId)).toBe(0);
    });
  });

  describe('projections', () => {
    it('rebuilds read models from the events equal to the live ones', async () => {
      for (const account of [uniqueName('acc'), uniqueName('acc')]) {
        for (let i = 0; i < 5; i++) await add(account, `${account}-s${i % 2}`, i + 1);
      }
      const snapshot = () =>
        owner.query(`SELECT stream_id, account_id, total FROM counters ORDER BY stream_id`);
      const live: unknown = await snapshot();
      // Corrupt the read model so a rebuild that did nothing would be caught.
      await owner.query(`UPDATE counters SET total = total + 1000`);
      const replayed = await rebuildProjection(ownerStore, countersProjection);
      expect(replayed).toBeGreaterThanOrEqual(10);
      expect(await snapshot()).toEqual(live);
    });
  });

  describe('row-level security', () => {
    it('shows an account only its own rows, and nothing without an account', async () => {
      const a = uniqueName('acc');
      const b = uniqueName('acc');
      await add(a, uniqueName('counter'), 1);
      await add(b, uniqueName('counter'), 1);
      const single = new EventStore(appSingle, { source: 'it', topic });
      const accountsSeen = async (scope: Parameters<EventStore['inScope']>[0]) =>
        single.inScope(scope, async (tx) =>
          (await tx.query<{ account_id: string }[]>(`SELECT DISTINCT account_id FROM es_events`)).map(
            (r) => r.account_id,
          ),
        );
      expect(await accountsSeen({ accountId: a })).toEqual([a]);
      expect(await accountsSeen({ accountId: b })).toEqual([b]);
      // Same single pooled connection, no account set: nothing, not the previous account's rows.
      expect(await appSingle.query(`SELECT count(*)::int AS n FROM es_events`)).toEqual([{ n: 0 }]);
      expect(await appSingle.query(`SELECT count(*)::int AS n FROM counters`)).toEqual([{ n: 0 }]);
    });

    it("refuses to write a row into another account's scope", async () => {
      const a = uniqueName('acc');
      await expect(
        store.inScope({ accountId: a }, (tx) =>
          tx.query(`INSERT INTO counters (stream_id, account_id, total) VALUES ($1, $2, 1)`, [
            uniqueName('s'),
            'other',
          ]),
        ),
      ).rejects.toThrow(/row-level security/);
    });

    it('keeps events append-only, even for the owner', async () => {
      await add(uniqueName('acc'), uniqueName('counter'), 1);
      await expect(owner.query(`UPDATE es_events SET type = 'x'`)).rejects.toThrow(/append-only/);
      await expect(owner.query(`DELETE FROM es_events`)).rejects.toThrow(/append-only/);
    });

    it('runs requests as a role that is not the owner and cannot bypass row-level security', async () => {
      const [role] = await app.query<{ rolsuper: boolean; rolbypassrls: boolean }[]>(
        `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`,
      );
      expect(role).toEqual({ rolsuper: false, rolbypassrls: false });
      const [table] = await owner.query<{ tableowner: string; rowsecurity: boolean }[]>(
        `SELECT tableowner, rowsecurity FROM pg_tables WHERE tablename = 'es_events'`,
      );
      expect(table.tableowner).not.toBe(APP_ROLE);
      expect(table.rowsecurity).toBe(true);
    });
  });
});
