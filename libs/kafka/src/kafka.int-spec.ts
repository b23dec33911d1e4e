import { IsInt, IsString } from 'class-validator';
import { Kafka, logLevel } from 'kafkajs';
import { defineTopic } from '@metering/contracts';
import { consumerGroupLag, eventually, kafkaBrokers, kafkaControl, uniqueName } from '@metering/testing';
import { DLQ_HEADERS, type ConsumedMessage } from './batch-consumer';
import { KafkaClient } from './kafka-client';
import { ContractViolationError } from './typed-producer';

class Reading {
  @IsString()
  id!: string;

  @IsInt()
  value!: number;
}

const topicContract = () => {
  const name = uniqueName('it.readings');
  return defineTopic({
    name: `${name}.v1`,
    deadLetter: `${name}.dlq.v1`,
    valueClass: Reading,
    keyOf: (r) => r.id,
  });
};

/** Reads every message of a topic from the start with a throwaway group. */
async function readAll(topic: string, expected: number) {
  const kafka = new Kafka({ brokers: kafkaBrokers(), clientId: 'it-reader', logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 500 });
  const seen: { value: string; headers: Record<string, string> }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      seen.push({ value: message.value?.toString() ?? '', headers });
    },
  });
  try {
    return await eventually(() => (seen.length >= expected ? seen : undefined), {
      what: `${expected} messages on ${topic}`,
    });
  } finally {
    await consumer.disconnect();
  }
}

async function committedOffsets(groupId: string, topic: string): Promise<Map<number, string>> {
  const kafka = new Kafka({ brokers: kafkaBrokers(), clientId: 'it-admin', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map(entry.partitions.map((p) => [p.partition, p.offset]));
  } finally {
    await admin.disconnect();
  }
}

describe(KafkaClient.name, () => {
  let client: KafkaClient;

  beforeEach(() => {
    client = new KafkaClient({ brokers: kafkaBrokers(), clientId: 'it-kafka' });
  });

  afterEach(async () => {
    await client.close();
  });

  it('refuses to publish a value that breaks the contract', async () => {
    const topic = topicContract();
    await expect(client.producer().send(topic, [{ id: 'a', value: 'x' } as never])).rejects.toThrow(
      ContractViolationError,
    );
  });

  it('commits only after the handler succeeds; a failed batch is delivered again', async () => {
    const topic = topicContract();
    const groupId = uniqueName('group');
    await client.producer().send(topic, [{ id: 'r1', value: 1 }]);

    let calls = 0;
    const delivered: string[] = [];
    const consumer = client.consumer({
      groupId,
      topic,
      sessionTimeoutMs: 6_000,
      maxAttempts: 2,
      retryBackoffMs: 50,
      handler: async (messages: ConsumedMessage<Reading>[]) => {
        calls++;
        delivered.push(...messages.map((m) => m.value.id));
        throw new Error('store unavailable');
      },
    });
    await consumer.start();
    await eventually(() => (calls >= 2 ? true : undefined), { what: 'two failed attempts' });
    await consumer.stop();
    // Nothing committed for the group: the message is still owed.
    const offsets = await committedOffsets(groupId, topic.name);
    expect([...offsets.values()].every((o) => o === '-1')).toBe(true);

    // A new member of the same group gets the same message again and commits it.
    const redelivered: string[] = [];
    const second = client.consumer({
      groupId,
      topic,
      sessionTimeoutMs: 6_000,
      handler: async (messages) => {
        redelivered.push(...messages.map((m) => m.value.id));
      },
    });
    await second.start();
    await eventually(() => (redelivered.length ? true : undefined), { what: 'redelivery' });
    await eventually(
      async () =>
        [...(await committedOffsets(groupId, topic.name)).values()].some((o) => o === '1') ? true : undefined,
      { what: 'commit after success' },
    );
    await second.stop();
    expect(delivered).toEqual(['r1', 'r1']);
    expect(redelivered).toEqual(['r1']);
  });

  it('retries a failing handler and commits once it succeeds', async () => {
    const topic = topicContract();
    const groupId = uniqueName('group');
    await client.producer().send(topic, [{ id: 'r1', value: 1 }]);
    const attempts: string[][] = [];
    const consumer = client.consumer({
      groupId,
      topic,
      sessionTimeoutMs: 6_000,
      retryBackoffMs: 20,
      handler: async (messages) => {
        attempts.push(messages.map((m) => m.value.id));
        if (attempts.length === 1) throw new Error('transient');
      },
    });
    await consumer.start();
    await eventually(
      async () =>
        [...(await committedOffsets(groupId, topic.name)).values()].includes('1') ? true : undefined,
      { what: 'commit' },
    );
    await consumer.stop();
    expect(attempts).toEqual([['r1'], ['r1']]);
  });

  it('dead-letters invalid messages with the reason and keeps the partition moving', async () => {
    const topic = topicContract();
    const producer = client.producer();
    // All with one key, so they share a partition and the bad ones sit between good ones.
    await producer.sendRaw(topic.name, [
      { key: 'k', value: JSON.stringify({ id: 'good-1', value: 1 }) },
      { key: 'k', value: '{not json' },
      { key: 'k', value: JSON.stringify({ id: 'bad-value', value: 'NaN' }) },
      { key: 'k', value: JSON.stringify({ id: 'good-2', value: 2 }) },
    ]);
    const handled: string[] = [];
    const consumer = client.consumer({
      groupId: uniqueName('group'),
      topic,
      sessionTimeoutMs: 6_000,
      handler: async (messages) => {
        handled.push(...messages.map((m) => m.value.id));
      },
    });
    await consumer.start();
    await eventually(() => (handled.length === 2 ? true : undefined), { what: 'valid messages handled' });
    await consumer.stop();
    expect(handled).toEqual(['good-1', 'good-2']);

    const dead = await readAll(topic.deadLetter, 2);
    const reasons = dead.map((d) => d.headers[DLQ_HEADERS.reason]);
    expect(reasons[0]).toMatch(/not JSON/);
    expect(reasons[1]).toMatch(/value: .*integer/);
    expect(dead.map((d) => d.headers[DLQ_HEADERS.topic])).toEqual([topic.name, topic.name]);
    expect(dead[0].value).toBe('{not json');
  });

  it('starts again after a crash kafkajs does not restart, and consumes', async () => {
    const topic = topicContract();
    await client.producer().send(topic, [{ id: 'after-crash', value: 1 }]);
    const received: string[] = [];
    const consumer = client.consumer({
      groupId: uniqueName('group'),
      topic,
      sessionTimeoutMs: 6_000,
      handler: async (messages) => {
        received.push(...messages.map((m) => m.value.id));
      },
    });
    // The group's first SyncGroup (API key 14) answers INVALID_REQUEST (42), which kafkajs does
    // not retry: without a restart of its own the consumer would stay down.
    await kafkaControl('errors 14 42');
    try {
      await consumer.start();
      await eventually(
        () =>
          consumer.check().then(
            () => undefined,
            (err: Error) => (/crashed/.test(err.message) ? true : undefined),
          ),
        { what: 'readiness to report the crash', timeoutMs: 10_000 },
      );
      await eventually(() => (received.length > 0 ? true : undefined), {
        what: 'the message consumed after the restart',
        timeoutMs: 30_000,
      });
      await expect(consumer.check()).resolves.toBeUndefined();
      expect(received).toEqual(['after-crash']);
    } finally {
      await kafkaControl('clear 14');
      await consumer.stop();
    }
  });

  // A member stalls inside its first batch while a second member joins the group: briefly (the
  // group rebalances mid-batch) or past its session timeout (the group drops it and hands its
  // partitions over). Either way every message is handled and the group ends with nothing owed,
  // also after the stalled member resumes. Batches a rebalance interrupts are handled again (at
  // least once): counting them once is the sink's dedup, shown in aggregation-faults.e2e-spec.ts.
  it.each([
    { stall: 'a rebalance mid-batch', pastSessionTimeout: false, fetchAheadBytes: 0 },
    { stall: 'a rebalance mid-batch, fetching ahead', pastSessionTimeout: false, fetchAheadBytes: 1 << 20 },
    { stall: 'a consumer paused past its session timeout', pastSessionTimeout: true, fetchAheadBytes: 0 },
  ])('loses nothing through $stall', async ({ pastSessionTimeout, fetchAheadBytes }) => {
    const topic = topicContract();
    const groupId = uniqueName('group');
    const ids = Array.from({ length: 12 }, (_, i) => `m${i}`);
    await client.producer().send(
      topic,
      ids.map((id, i) => ({ id, value: i })),
    );
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const stalled: string[] = [];
    const byFirst: string[] = [];
    const bySecond: string[] = [];
    const member = (seen: string[], stalls: boolean) =>
      client.consumer({
        groupId,
        topic,
        sessionTimeoutMs: 6_000,
        fetchAheadBytes,
        handler: async (messages) => {
          const batch = messages.map((m) => m.value.id);
          seen.push(...batch);
          // The first batch stalls without a heartbeat until released.
          if (stalls && !stalled.length) {
            stalled.push(...batch);
            await released;
          }
        },
      });
    const first = member(byFirst, true);
    const second = member(bySecond, false);
    const handled = () => new Set([...byFirst, ...bySecond]);
    try {
      await first.start();
      await eventually(() => (stalled.length ? true : undefined), { what: 'the first batch to stall' });
      await second.start();
      if (pastSessionTimeout) {
        // The group drops the silent member; the other consumes what its batch held (never committed).
        await eventually(() => (stalled.every((id) => bySecond.includes(id)) ? true : undefined), {
          what: 'the second member to take over the stalled batch',
          timeoutMs: 60_000,
        });
      } else {
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
      release();
      await eventually(() => (ids.every((id) => handled().has(id)) ? true : undefined), {
        what: 'every message handled',
        timeoutMs: 60_000,
      });
      await eventually(
        async () => ((await consumerGroupLag(groupId, topic.name)).total === 0 ? true : undefined),
        { what: 'the group to have committed every message', timeoutMs: 30_000 },
      );
      const more = 'after-resume';
      await client.producer().send(topic, [{ id: more, value: ids.length }]);
      await eventually(() => (handled().has(more) ? true : undefined), {
        what: 'the group to keep consuming after the stalled member resumed',
        timeoutMs: 30_000,
      });
      await eventually(
        async () => ((await consumerGroupLag(groupId, topic.name)).total === 0 ? true : undefined),
        { what: 'nothing owed at the end', timeoutMs: 30_000 },
      );
      if (pastSessionTimeout) expect(stalled.every((id) => bySecond.includes(id))).toBe(true);
    } finally {
      release();
      await Promise.all([first.stop(), second.stop()]);
    }
  });

  describe('fetching ahead', () => {
    /**
     * A consumer fetching ahead on a fresh topic and group, whose handler calls wait until the
     * test settles them one by one; `send` publishes one message (all on one partition).
     */
    function aheadOfHeldHandler(options: { maxAttempts?: number } = {}) {
      const topic = topicContract();
      const groupId = uniqueName('group');
      const calls: { ids: string[]; settle: (err?: Error) => void }[] = [];
      const consumer = client.consumer({
        groupId,
        topic,
        sessionTimeoutMs: 6_000,
        fetchAheadBytes: 1 << 20,
        ...options,
        handler: (messages: ConsumedMessage<Reading>[]) =>
          new Promise<void>((resolve, reject) => {
            const ids = messages.map((m) => m.value.id);
            calls.push({ ids, settle: (err) => (err ? reject(err) : resolve()) });
          }),
      });
      return {
        calls,
        consumer,
        send: (id: string) =>
          client.producer().sendRaw(topic.name, [{ key: 'k', value: JSON.stringify({ id, value: 1 }) }]),
        called: (n: number) =>
          eventually(() => (calls.length >= n ? true : undefined), { what: `${n} handler calls` }),
        committed: async () =>
          [...(await committedOffsets(groupId, topic.name)).values()].filter((o) => o !== '-1'),
        committedThrough: (offset: string) =>
          eventually(
            async () =>
              [...(await committedOffsets(groupId, topic.name)).values()].includes(offset) ? true : undefined,
            { what: `the partition committed through offset ${offset}` },
          ),
        /** Settles every call, so the consumer can stop. */
        release: () => calls.forEach((c) => c.settle()),
      };
    }

    it('hands over later batches before earlier ones are written, and commits only the written prefix', async () => {
      const { calls, consumer, send, called, committed, committedThrough, release } = aheadOfHeldHandler();
      try {
        await send('m1');
        await consumer.start();
        await called(1);
        // Sent only once the first batch is in the handler, so each is a batch of its own.
        await send('m2');
        await called(2);
        await send('m3');
        await called(3);
        expect(calls.map((c) => c.ids)).toEqual([['m1'], ['m2'], ['m3']]);

        calls[2].settle();
        calls[1].settle();
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        // Written after a batch that is not: nothing of the partition is committed yet.
        expect(await committed()).toEqual([]);

        calls[0].settle();
        await committedThrough('3');
      } finally {
        release();
        await consumer.stop();
      }
    });

    it('delivers a batch that failed for good again from the committed offset, with every later one', async () => {
      const { calls, consumer, send, called, committedThrough, release } = aheadOfHeldHandler({
        maxAttempts: 1,
      });
      try {
        await send('m1');
        await consumer.start();
        await called(1);
        calls[0].settle();
        await committedThrough('1');
        await send('m2');
        await called(2);
        await send('m3');
        await called(3);
        calls[2].settle();
        calls[1].settle(new Error('store unavailable'));
        // The consumer starts again from offset 1: m2 and m3 come back, and are committed once written.
        await eventually(
          () => {
            const again = calls.slice(3);
            for (const c of again) c.settle();
            return again.some((c) => c.ids.includes('m3')) ? true : undefined;
          },
          { what: 'm2 and m3 delivered again', timeoutMs: 30_000 },
        );
        await committedThrough('3');
        expect(calls.flatMap((c) => c.ids)).toEqual(['m1', 'm2', 'm3', 'm2', 'm3']);
      } finally {
        release();
        await consumer.stop();
      }
    });

    it('lets the batches it handed over finish and commit when stopped', async () => {
      const { calls, consumer, send, called, committed } = aheadOfHeldHandler();
      await send('m1');
      await consumer.start();
      await called(1);
      const stopped = consumer.stop();
      await new Promise((resolve) => setTimeout(resolve, 300));
      calls[0].settle();
      await stopped;
      expect(await committed()).toEqual(['1']);
    });
  });

  it('reports readiness against the cluster', async () => {
    await expect(client.check()).resolves.toBeUndefined();
  });
});
