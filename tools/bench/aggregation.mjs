// Aggregation sink benchmark against the running local stack (`bash tools/stack/stack.sh up`):
//  1. raw ClickHouse insert rate from Node: rows shaped like meter_values, in 10,000-row inserts,
//     into a scratch table (dropped afterwards);
//  2. sink throughput: events written straight to usage.events.v1 (packs of 500, as ingestion
//     writes them) in rounds of ROUND events, each round as fast as possible, and the time until
//     all are queryable in meter_values. Rounds keep the backlog under the local mock broker's
//     in-memory log cap (a few MB per partition, ARCHITECTURE.md §3): a larger backlog loses its
//     oldest messages there, which would measure the broker, not the sink;
//  3. event-to-queryable latency: packs sent at a steady rate, each pack's latency measured from
//     its send to the poll (every 50 ms) that first sees all of it.
// Usage: node tools/bench/aggregation.mjs [--events 300000] [--rate 20000] [--seconds 10]
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { readStackEnv } from '../stack/stack-env.mjs';
import { ms, percentile } from './bench-kit.mjs';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs');
const { createClient } = require('@clickhouse/client');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const EVENTS = arg('events', 300_000);
const RATE = arg('rate', 20_000);
const SECONDS = arg('seconds', 10);
const PACK = 500;
const ROUND = 20_000;
const TENANTS = 8;

const env = readStackEnv();
const kafka = new Kafka({
  clientId: 'bench-aggregation',
  brokers: env.KAFKA_BROKERS.split(','),
  logLevel: logLevel.ERROR,
});
const ch = createClient({ url: env.CLICKHOUSE_URL, database: 'metering' });
const sleep = (t) => new Promise((resolve) => setTimeout(resolve, t));

async function count(sql) {
  const rows = await (await ch.query({ query: sql, format: 'JSONEachRow' })).json();
  return rows;
}

async function rawInsertRate() {
  const table = `bench_raw_${randomUUID().slice(0, 8)}`;
  await ch.command({ query: `CREATE TABLE ${table} AS meter_values` });
  const rows = (n, offset) =>
    Array.from({ length: n }, (_, i) => ({
      account_id: 'acc_bench',
      tenant_id: `t-${i % TENANTS}`,
      meter_key: 'api_calls',
      event_id: `${offset + i}`,
      time_ms: Date.now(),
      time: Math.floor(Date.now() / 1000),
      subject: '',
      value_nano: '1000000000',
      received_at_ms: Date.now(),
    }));
  const t0 = performance.now();
  for (let offset = 0; offset < EVENTS; offset += 10_000) {
    await ch.insert({ table, values: rows(10_000, offset), format: 'JSONEachRow' });
  }
  const rate = EVENTS / ((performance.now() - t0) / 1000);
  await ch.command({ query: `DROP TABLE ${table}` });
  return rate;
}

/** One pack of `PACK` api.call records for a tenant of `accountId`, as ingestion publishes them. */
function pack(accountId, tenant, label) {
  const now = Date.now();
  const records = Array.from({ length: PACK }, () => ({
    id: randomUUID(),
    tenantId: tenant,
    accountId,
    source: 'bench/sink',
    type: 'api.call',
    subject: label,
    timeMs: now,
    data: { route: '/v1/messages' },
    receivedAtMs: now,
  }));
  return { key: tenant, value: JSON.stringify({ tenantId: tenant, records }) };
}

async function sinkThroughput(producer) {
  const accountId = `acc_bench_${randomUUID().slice(0, 8)}`;
  const rounds = Math.ceil(EVENTS / ROUND);
  const visible = async () =>
    Number(
      (
        await count(
          `SELECT count() AS n FROM meter_values WHERE account_id = '${accountId}' AND meter_key = 'api_calls'`,
        )
      )[0].n,
    );
  const t0 = performance.now();
  let sent = 0;
  for (let r = 0; r < rounds; r++) {
    const packs = ROUND / PACK;
    for (let i = 0; i < packs; i += 10) {
      const messages = Array.from({ length: Math.min(10, packs - i) }, (_, j) =>
        pack(accountId, `t-${(i + j) % TENANTS}`, 'x'),
      );
      await producer.send({ topic: 'usage.events.v1', acks: -1, messages });
    }
    sent += ROUND;
    // The next round goes once most of this one is stored, so the backlog stays small.
    while ((await visible()) < sent - ROUND / 4) {
      if (performance.now() - t0 > 600_000) throw new Error('the sink fell behind for 10 minutes');
      await sleep(20);
    }
  }
  while ((await visible()) < sent) await sleep(20);
  const seconds = (performance.now() - t0) / 1000;
  return { total: sent, seconds };
}

async function latencyAtRate(producer) {
  const accountId = `acc_bench_${randomUUID().slice(0, 8)}`;
  const sentAt = new Map();
  const seenAt = new Map();
  const packsPerSecond = RATE / PACK;
  let stop = false;
  const poller = (async () => {
    while (!stop || seenAt.size < sentAt.size) {
      const rows = await count(
        `SELECT subject, count() AS n FROM meter_values WHERE account_id = '${accountId}' GROUP BY subject`,
      );
      const now = performance.now();
      for (const { subject, n } of rows)
        if (Number(n) >= PACK && !seenAt.has(subject)) seenAt.set(subject, now);
      await sleep(50);
    }
  })();
  const t0 = performance.now();
  for (let i = 0; i < packsPerSecond * SECONDS; i++) {
    const due = t0 + (i / packsPerSecond) * 1000;
    if (due > performance.now()) await sleep(due - performance.now());
    const label = `p-${i}`;
    sentAt.set(label, performance.now());
    await producer.send({
      topic: 'usage.events.v1',
      acks: -1,
      messages: [pack(accountId, `t-${i % TENANTS}`, label)],
    });
  }
  stop = true;
  await poller;
  const latencies = [...sentAt].map(([label, sent]) => seenAt.get(label) - sent).sort((a, b) => a - b);
  return latencies;
}

async function main() {
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  const raw = await rawInsertRate();
  console.log(
    `raw ClickHouse insert from Node: ${Math.round(raw).toLocaleString('en')} rows/s (10,000-row JSONEachRow inserts)`,
  );
  const sink = await sinkThroughput(producer);
  console.log(
    `sink: ${sink.total.toLocaleString('en')} events queryable in ${sink.seconds.toFixed(1)} s = ` +
      `${Math.round(sink.total / sink.seconds).toLocaleString('en')} events/s (rounds of ${ROUND.toLocaleString('en')}; target ≥ 100,000/s)`,
  );
  const latencies = await latencyAtRate(producer);
  console.log(
    `event-to-queryable at ${RATE.toLocaleString('en')} events/s for ${SECONDS} s: p50 ${ms(percentile(latencies, 50))}, ` +
      `p99 ${ms(percentile(latencies, 99))}, max ${ms(latencies[latencies.length - 1])} (target p99 ≤ 2 s; 50 ms poll)`,
  );
  await producer.disconnect();
  await ch.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
