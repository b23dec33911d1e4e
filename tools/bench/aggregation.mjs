// Aggregation sink benchmark against the running local stack (`bash tools/stack/stack.sh up`):
//  1. raw ClickHouse insert rate from Node: rows shaped like meter_values_by_time, in 10,000-row inserts,
//     into a scratch table (dropped afterwards);
//  2. sink throughput: events written straight to usage.events.v1 (packs of 500, as ingestion
//     writes them) in rounds of ROUND events, each round as fast as possible, and the time until
//     all are queryable in meter_values_by_time. Rounds keep the backlog under the local mock broker's
//     in-memory log cap (a few MB per partition, ARCHITECTURE.md §3): a larger backlog loses its
//     oldest messages there, which would measure the broker, not the sink;
//  3. event-to-queryable latency: packs sent at a steady rate, each pack's latency measured from
//     its send to the poll (every 50 ms) that first sees all of it.
// Usage: node tools/bench/aggregation.mjs [--events 300000] [--rate 20000] [--seconds 10]
//        [--no-raw]   (skip 1., when the raw ceilings are measured elsewhere in the same run)
import { randomUUID } from 'node:crypto';
import { readStackEnv } from '../stack/stack-env.mjs';
import {
  arg,
  atLeast,
  atMost,
  clickHouseOf,
  flag,
  kafkaOf,
  ms,
  percentile,
  rawClickHouseInsertRate,
  reporter,
  sizeUnlike,
  sleep,
  usagePack,
  usageRecord,
} from './bench-kit.mjs';

const EVENTS = arg('events', 300_000);
const RATE = arg('rate', 20_000);
const SECONDS = arg('seconds', 10);
const RAW = !flag('no-raw');
const PACK = 500;
const ROUND = 20_000;
const TENANTS = 8;
/** How long after the last send a pack may take to become queryable before the run gives up. */
const LATENCY_WAIT_MS = 60_000;

const env = readStackEnv();
const kafka = kafkaOf(env, 'bench-aggregation');
const ch = clickHouseOf(env);
const report = reporter('aggregation', { events: EVENTS, rate: RATE, seconds: SECONDS, raw: RAW });

async function count(sql) {
  const rows = await (await ch.query({ query: sql, format: 'JSONEachRow' })).json();
  return rows;
}

/** One pack of `PACK` api.call records for a tenant of `accountId`, as ingestion publishes them. */
const pack = (accountId, tenant, label) =>
  usagePack(
    tenant,
    Array.from({ length: PACK }, () => usageRecord(accountId, tenant, label, 'bench/sink')),
  );

async function sinkThroughput(producer) {
  const accountId = `acc_bench_${randomUUID().slice(0, 8)}`;
  const rounds = Math.ceil(EVENTS / ROUND);
  const visible = async () =>
    Number(
      (
        await count(
          `SELECT count() AS n FROM meter_values_by_time WHERE account_id = '${accountId}' AND meter_key = 'api_calls'`,
        )
      )[0].n,
    );
  const consumed = async () =>
    Number(
      (await count(`SELECT sum(events) AS n FROM sink_receipts WHERE account_id = '${accountId}'`))[0].n,
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
    // The next round goes once most of this one is stored, so the backlog stays small. The
    // sink writes an account's receipts after its values: a few rows to sum instead of counting
    // the account's values on every poll, which would take ClickHouse's CPU from the sink.
    while ((await consumed()) < sent - ROUND / 4) {
      if (performance.now() - t0 > 600_000) throw new Error('the sink fell behind for 10 minutes');
      await sleep(20);
    }
  }
  while ((await consumed()) < sent) await sleep(20);
  // Queryable: every event counted where usage reads it.
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
  let giveUpAt = Infinity;
  const poller = (async () => {
    while ((!stop || seenAt.size < sentAt.size) && performance.now() < giveUpAt) {
      const rows = await count(
        `SELECT subject, count() AS n FROM meter_values_by_time WHERE account_id = '${accountId}' GROUP BY subject`,
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
  giveUpAt = performance.now() + LATENCY_WAIT_MS;
  await poller;
  const missing = sentAt.size - seenAt.size;
  if (missing > 0) {
    throw new Error(
      `${missing} of ${sentAt.size} packs were not queryable ${LATENCY_WAIT_MS / 1000} s after the last send ` +
        `(the sink fell behind ${RATE.toLocaleString('en')} events/s; see the aggregation log for offsets ` +
        `the local broker no longer holds)`,
    );
  }
  const latencies = [...sentAt].map(([label, sent]) => seenAt.get(label) - sent).sort((a, b) => a - b);
  return latencies;
}

async function main() {
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  if (RAW) {
    const raw = await rawClickHouseInsertRate(ch, { rows: EVENTS, tenants: TENANTS });
    console.log(
      `raw ClickHouse insert from Node: ${Math.round(raw).toLocaleString('en')} rows/s (10,000-row JSONEachRow inserts)`,
    );
    report({
      name: 'raw ClickHouse insert from Node',
      value: raw,
      unit: 'rows/s',
      ceilingId: 'clickhouse-insert',
    });
  }
  const sink = await sinkThroughput(producer);
  console.log(
    `sink: ${sink.total.toLocaleString('en')} events queryable in ${sink.seconds.toFixed(1)} s = ` +
      `${Math.round(sink.total / sink.seconds).toLocaleString('en')} events/s (rounds of ${ROUND.toLocaleString('en')}; target ≥ 100,000/s)`,
  );
  report({
    name: 'sink throughput (events queryable in ClickHouse)',
    value: sink.total / sink.seconds,
    unit: 'events/s',
    target: atLeast(100_000),
    ceiling: 'clickhouse-insert',
    note: `${sink.total.toLocaleString('en')} events in rounds of ${ROUND.toLocaleString('en')}`,
  });
  const latencies = await latencyAtRate(producer);
  console.log(
    `event-to-queryable at ${RATE.toLocaleString('en')} events/s for ${SECONDS} s: p50 ${ms(percentile(latencies, 50))}, ` +
      `p99 ${ms(percentile(latencies, 99))}, max ${ms(latencies[latencies.length - 1])} (target p99 ≤ 2 s; 50 ms poll)`,
  );
  const at = `at ${RATE.toLocaleString('en')} events/s`;
  report({ name: `event-to-queryable p50 ${at}`, value: percentile(latencies, 50), unit: 'ms' });
  report({
    name: `event-to-queryable p99 ${at}`,
    value: percentile(latencies, 99),
    unit: 'ms',
    target: atMost(2_000, sizeUnlike(RATE, 20_000, 'events/s')),
    note: `${SECONDS} s of packs of ${PACK}, polled every 50 ms`,
  });
  await producer.disconnect();
  await ch.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
