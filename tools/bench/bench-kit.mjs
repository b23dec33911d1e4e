// Shared helpers for the benchmarks in tools/bench.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const HOUR = 3_600_000;

export const sleep = (t) => new Promise((resolve) => setTimeout(resolve, t));

/**
 * Calls `send(i)` for i in [0, count) on a steady schedule of `perSecond` calls a second whatever
 * the answers (an open loop: a slow answer does not delay the next call, as with real clients),
 * timing each. Returns the latencies in ms, sorted, and the seconds from the first call to the
 * last answer.
 */
export async function openLoop(count, perSecond, send) {
  const latencies = [];
  const pending = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = t0 + (i * 1000) / perSecond - performance.now();
    if (wait > 1) await sleep(wait);
    const started = performance.now();
    pending.push(send(i).then(() => latencies.push(performance.now() - started)));
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return { latencies, seconds: (performance.now() - t0) / 1000 };
}

/** The text after `--name` on the command line, or `fallback`. */
export const option = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};

/** The number after `--name` on the command line, or `fallback`. */
export const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

/** Whether `--name` is on the command line. */
export const flag = (name) => process.argv.includes(`--${name}`);

// ---- figures in machine-readable form, for tools/bench/report.mjs

/** The prefix of the stdout line that carries one figure as JSON. */
export const RESULT_PREFIX = 'BENCH_RESULT ';

/**
 * A target a figure must not exceed (`atMost`) or must reach (`atLeast`), in the figure's unit.
 * `statedFor` names the size the target is stated for when this run used another (a scaled run
 * shows the figure beside the target without the two being comparable).
 */
export const atMost = (value, statedFor) => ({ op: '<=', value, ...(statedFor ? { statedFor } : {}) });
export const atLeast = (value, statedFor) => ({ op: '>=', value, ...(statedFor ? { statedFor } : {}) });

/** `stated` and `what` as a target's `statedFor` when `actual` differs from it, else undefined. */
export const sizeUnlike = (actual, stated, what) =>
  actual === stated ? undefined : `${stated.toLocaleString('en')} ${what}`;

/**
 * The reporter of a benchmark script: each call prints one figure as a stdout line
 * `BENCH_RESULT <json>` (beside the script's human output), as soon as it is measured, so the
 * figures of a script that fails later are still reported. A figure: `name`, `value`, `unit`,
 * optionally `target` (atMost/atLeast), `ceiling` (the id of the raw ceiling a throughput is
 * compared with), `ceilingId` (this figure is that raw ceiling), `note`, `problems` (checks that
 * failed: the figure counts as not met). Every line carries the scenario and the options it ran with.
 */
export function reporter(scenario, options) {
  return (figure) => console.log(`${RESULT_PREFIX}${JSON.stringify({ scenario, ...figure, options })}`);
}

// Keep-alive and no deadline: a billing run over many accounts may take minutes to answer.
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** A JSON request with a management key, returning the parsed answer; a non-2xx answer throws. */
export function call(method, url, body, key) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${key}`,
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          const json = text ? JSON.parse(text) : undefined;
          if (res.statusCode < 200 || res.statusCode > 299) {
            reject(new Error(`${method} ${url}: ${res.statusCode} ${text.slice(0, 500)}`));
          } else resolve(json);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** POST a JSON body, returning the parsed answer; a non-2xx answer throws with its body. */
export const post = (url, body, key) => call('POST', url, body, key);

/** `f()`'s value and how long it took in ms. */
export async function timed(f) {
  const t0 = performance.now();
  const value = await f();
  return { value, ms: performance.now() - t0 };
}

/** `f` over `items`, at most `limit` at a time; the results in the items' order. */
export async function mapLimit(items, limit, f) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await f(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Deterministic pseudo-random numbers in [0, 1), so runs are comparable. */
export function rng(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/**
 * A monthly UTC calendar anchored two days ago (at most the 28th) and its last ended period,
 * `[startMs, endMs)`: it ended recently, so usage in it is within the 35 days of lateness.
 */
export function lastEndedPeriod(nowMs = Date.now()) {
  const anchorDay = Math.min(new Date(nowMs - 48 * HOUR).getUTCDate(), 28);
  const now = new Date(nowMs);
  let endMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), anchorDay);
  if (endMs > nowMs) endMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, anchorDay);
  const end = new Date(endMs);
  const startMs = Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - 1, anchorDay);
  return { anchorDay, startMs, endMs };
}

/** Nearest-rank percentile of an ascending array. */
export const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

export const ms = (v) => `${v.toFixed(2)} ms`;

/** Resident set size of a process in MB, from /proc (Linux). */
export function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

// ---- usage written straight into aggregation's stores (the sink is measured by aggregation.mjs)

/** Aggregation's ClickHouse database and its Postgres database (rollup ledger), connected. */
export async function aggregationStores(env) {
  const { Client } = require('pg');
  const ch = clickHouseOf(env, { request_timeout: 300_000 });
  const pg = new Client({ connectionString: `${env.POSTGRES_URL}/metering_aggregation` });
  await pg.connect();
  return { ch, pg, close: () => Promise.all([ch.close(), pg.end()]) };
}

/** A `meter_values_by_time` row as the sink writes it; `valueNano` a decimal string of nano-units. */
export const meterValueRow = ({ accountId, tenantId, meter, eventId, timeMs, subject = '', valueNano }) => ({
  account_id: accountId,
  tenant_id: tenantId,
  meter_key: meter,
  event_id: eventId,
  time_ms: timeMs,
  time: Math.floor(timeMs / 1000),
  subject,
  value_nano: valueNano,
  received_at_ms: Date.now(),
});

export const insertMeterValues = (ch, rows) =>
  ch.insert({ table: 'meter_values_by_time', values: rows, format: 'JSONEachRow' });

/** Marks account-hours stale as the sink does after an insert, so the rollup builder rebuilds them. */
export async function markStale(pg, hours) {
  const sorted = [...hours].sort((a, b) =>
    a.accountId === b.accountId ? a.hourMs - b.hourMs : a.accountId < b.accountId ? -1 : 1,
  );
  await pg.query(
    `INSERT INTO rollup_stale_hours (account_id, hour_ms, mark)
     SELECT a, h, nextval('rollup_mark_seq') FROM unnest($1::text[], $2::bigint[]) AS u(a, h)
     ON CONFLICT (account_id, hour_ms) DO UPDATE SET mark = EXCLUDED.mark, last_marked_at = clock_timestamp()`,
    [sorted.map((h) => h.accountId), sorted.map((h) => h.hourMs)],
  );
}

/** Waits until the rollup builder has rebuilt every stale hour of the accounts; seconds taken. */
export async function awaitRollups(pg, accountIds, onProgress = () => {}) {
  const started = performance.now();
  for (;;) {
    const { rows } = await pg.query(
      'SELECT count(*)::int AS n FROM rollup_stale_hours WHERE account_id = ANY($1::text[])',
      [accountIds],
    );
    if (rows[0].n === 0) return (performance.now() - started) / 1000;
    onProgress(rows[0].n);
    await sleep(500);
  }
}

// ---- clients and the raw ceilings: what Node alone gets from the stack's ClickHouse and Kafka

/** A kafkajs client of the stack's cluster, logging errors only. */
export function kafkaOf(env, clientId) {
  const { Kafka, logLevel } = require('kafkajs');
  return new Kafka({ clientId, brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.ERROR });
}

/** A ClickHouse client of the stack's `metering` database. */
export function clickHouseOf(env, options = {}) {
  const { createClient } = require('@clickhouse/client');
  return createClient({ url: env.CLICKHOUSE_URL, database: 'metering', ...options });
}

/** An api.call usage record as ingestion publishes it on usage.events.v1. */
export const usageRecord = (accountId, tenantId, subject, source = 'bench/api') => {
  const now = Date.now();
  return {
    id: randomUUID(),
    tenantId,
    accountId,
    source,
    type: 'api.call',
    subject,
    timeMs: now,
    data: { route: '/v1/messages', status: 200 },
    receivedAtMs: now,
  };
};

/** One usage.events.v1 message holding a tenant's records, as ingestion packs a request's events. */
export const usagePack = (tenantId, records) => ({
  key: tenantId,
  value: JSON.stringify({ tenantId, records }),
});

/** The id of the raw kafkajs ceiling: one message per event, or `pack` events per message. */
export const kafkaCeilingId = (pack) => (pack ? `kafka-produce-packed-${pack}` : 'kafka-produce');

/**
 * Raw kafkajs produce: usage records sent by one producer with acks = all to a scratch topic for
 * `seconds`, `concurrency` sends in flight of `batch` records each — as one message per record,
 * or (`packed`) as one message holding the batch, the way ingestion publishes a request's events.
 * Records acknowledged per second.
 */
export async function rawKafkaProduceRate(kafka, { seconds, concurrency, batch, packed, tenants = 8 }) {
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  try {
    const topic = 'bench.raw.v1';
    const tenant = (i) => `t-${i % tenants}`;
    const messages = (w) => {
      const records = Array.from({ length: batch }, (_, i) =>
        usageRecord('a-1', tenant(w), `user-${i % 97}`),
      );
      return packed
        ? [usagePack(tenant(w), records)]
        : records.map((r) => ({ key: r.tenantId, value: JSON.stringify(r) }));
    };
    await producer.send({ topic, acks: -1, messages: messages(0) }); // creates the topic, connects
    let sent = 0;
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async (_, w) => {
        while (performance.now() < deadline) {
          await producer.send({ topic, acks: -1, messages: messages(w) });
          sent += batch;
        }
      }),
    );
    return sent / ((performance.now() - t0) / 1000);
  } finally {
    await producer.disconnect();
  }
}

/**
 * Raw ClickHouse insert from Node: `rows` rows shaped like meter_values_by_time in `batch`-row
 * JSONEachRow inserts into a scratch copy of that table, dropped afterwards. Rows per second.
 */
export async function rawClickHouseInsertRate(ch, { rows, batch = 10_000, tenants = 8 }) {
  const table = `bench_raw_${randomUUID().slice(0, 8)}`;
  await ch.command({ query: `CREATE TABLE ${table} AS meter_values_by_time` });
  try {
    const chunk = (n, offset) =>
      Array.from({ length: n }, (_, i) =>
        meterValueRow({
          accountId: 'acc_bench',
          tenantId: `t-${i % tenants}`,
          meter: 'api_calls',
          eventId: `${offset + i}`,
          timeMs: Date.now(),
          valueNano: '1000000000',
        }),
      );
    const t0 = performance.now();
    for (let offset = 0; offset < rows; offset += batch) {
      await ch.insert({
        table,
        values: chunk(Math.min(batch, rows - offset), offset),
        format: 'JSONEachRow',
      });
    }
    return rows / ((performance.now() - t0) / 1000);
  } finally {
    await ch.command({ query: `DROP TABLE ${table}` });
  }
}
