import { randomUUID } from 'node:crypto';
import type { Producer } from 'kafkajs';
import { eventually, startInstance } from '@metering/testing';
import { auditDatabase, auditGet, domainEvent, newAccountId, producer } from './audit-fixtures';

/** Entries one instance appended, from its own /metrics. */
async function appendedBy(url: string, topic: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`audit_entries_appended_total{topic="${topic}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('audit log with several consumers', () => {
  const topic = `e2e-${randomUUID().slice(0, 8)}.events.v1`;
  const group = `audit.e2e-${randomUUID().slice(0, 8)}`;
  let instances: { url: string; stop: () => Promise<void> }[] = [];
  let kafka: Producer;

  beforeAll(async () => {
    kafka = await producer();
    // The topic exists before the consumers subscribe, so both get partitions of it.
    await kafka.send({ topic, acks: -1, messages: [{ key: 'warm-up', value: '{}' }] });
    instances = await Promise.all(
      [1, 2].map(() => startInstance('audit', { AUDIT_TOPICS: topic, AUDIT_CONSUMER_GROUP: group })),
    );
  });

  afterAll(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await kafka.disconnect();
  });

  it('appends one account’s events from every partition into one linear chain', async () => {
    const accountId = newAccountId();
    const events = Array.from({ length: 400 }, () => domainEvent(accountId, { source: 'e2e' }));
    // Keys spread one account's events over every partition, so both consumers append to it at once.
    for (let i = 0; i < events.length; i += 50) {
      await kafka.send({
        topic,
        acks: -1,
        messages: events.slice(i, i + 50).map((e) => ({ key: randomUUID(), value: JSON.stringify(e) })),
      });
    }
    await eventually(
      async () => {
        const db = await auditDatabase();
        try {
          const [{ n }] = (
            await db.query(`SELECT count(*)::int AS n FROM audit_entries WHERE account_id = $1`, [accountId])
          ).rows;
          return n === events.length ? true : undefined;
        } finally {
          await db.end();
        }
      },
      { what: 'all events recorded', timeoutMs: 60_000 },
    );
    const counts = await Promise.all(instances.map((i) => appendedBy(i.url, topic)));
    expect(counts.every((n) => n > 0)).toBe(true);
    expect((await auditGet(`/v1/audit/verify?accountId=${accountId}`)).body).toMatchObject({
      ok: true,
      entries: events.length,
      head: { seq: events.length },
    });
  });
});
