import { Kafka, logLevel, type Admin } from 'kafkajs';
import { kafkaBrokers } from './stack';

/** Per topic, per partition: an offset (for a topic's end, the offset its next message gets). */
export type TopicOffsets = Record<string, Record<number, number>>;

async function withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({
    brokers: kafkaBrokers(),
    clientId: 'e2e-offsets',
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Where each topic ends now. */
export function topicEnds(topics: readonly string[]): Promise<TopicOffsets> {
  return withAdmin(async (admin) => {
    const ends: TopicOffsets = {};
    for (const topic of topics) {
      const partitions = await admin.fetchTopicOffsets(topic);
      ends[topic] = Object.fromEntries(
        partitions.map((p): [number, number] => [p.partition, Number(p.high)]),
      );
    }
    return ends;
  });
}

export interface GroupLag {
  /** Messages up to the end not yet committed by the group, over all partitions. */
  total: number;
  partitions: { partition: number; committed: number; end: number; lag: number }[];
}

/**
 * How far a consumer group's committed offsets are behind a topic's end: its current end, or
 * `ends` (e.g. where it ended when the producers stopped, so that other producers of the topic
 * cannot keep the lag above zero). A partition the group never committed counts from its start.
 */
export function consumerGroupLag(
  groupId: string,
  topic: string,
  ends?: Record<number, number>,
): Promise<GroupLag> {
  return withAdmin(async (admin) => {
    const offsets = await admin.fetchTopicOffsets(topic);
    const [group] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = new Map(
      group?.partitions.map((p): [number, number] => [p.partition, Number(p.offset)]),
    );
    const partitions = offsets.map((p) => {
      const at = committed.get(p.partition) ?? -1;
      const end = ends?.[p.partition] ?? Number(p.high);
      const position = at >= 0 ? at : Number(p.low);
      return { partition: p.partition, committed: at, end, lag: Math.max(0, end - position) };
    });
    return { total: partitions.reduce((n, p) => n + p.lag, 0), partitions };
  });
}

/**
 * Commits a consumer group that has no members at a topic's current end, so that its next member
 * reads only what comes after instead of whatever the topic still holds from earlier tests (on the
 * mock broker a fetch returns one record batch per partition: a long backlog takes minutes). Joins
 * the group for that, with the session timeout its members will use.
 */
export async function commitGroupAtEnd(
  groupId: string,
  topic: string,
  sessionTimeout: number,
): Promise<void> {
  const consumer = new Kafka({
    brokers: kafkaBrokers(),
    clientId: 'e2e-offsets',
    logLevel: logLevel.NOTHING,
  }).consumer({ groupId, sessionTimeout, heartbeatInterval: Math.floor(sessionTimeout / 3) });
  await consumer.connect();
  try {
    const joined = new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
    await consumer.subscribe({ topic, fromBeginning: false });
    await consumer.run({ autoCommit: false, eachBatch: () => Promise.resolve() });
    await joined;
    const ends = (await topicEnds([topic]))[topic];
    await consumer.commitOffsets(
      Object.entries(ends).map(([partition, end]) => ({
        topic,
        partition: Number(partition),
        offset: String(end),
      })),
    );
  } finally {
    await consumer.disconnect();
  }
}
