// Ingestion benchmark against the running local stack (`bash tools/stack/stack.sh up`).
//  1. raw kafkajs: the rate at which one kafkajs producer gets usage records acknowledged
//     (acks = all) by the same cluster, as one message per event and packed the way ingestion
//     publishes them (one message per batch), for comparison;
//  2. POST /v1/events from several tenants over keep-alive connections, in batches of each
//     size asked for: accepted events/s (ingestion answers only after Kafka acknowledged them,
//     cross-checked against the growth of usage.events.v1's end offsets), latency per request,
//     and the ingestion process's peak RSS;
//  3. latency per 100-event request at a steady offered rate (PACED events/s, requests sent on a
//     schedule whatever the answers, round-robin over the tenants): what a producer sees below
//     saturation, where 2.'s closed loop (every connection always busy) measures mostly queueing.
// Usage: node tools/bench/ingestion.mjs [--tenants 8] [--concurrency 16] [--seconds 15] [--batches 100,500]
//        [--paced 10000]   (events/s offered in 3.; 0 skips it)
//        [--no-raw]   (skip 1., when the raw ceilings are measured elsewhere in the same run)
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { readStackEnv, root } from '../stack/stack-env.mjs';
import {
  arg,
  atLeast,
  atMost,
  flag,
  kafkaCeilingId,
  kafkaOf,
  ms,
  openLoop,
  option,
  percentile,
  post,
  sleep,
  rawKafkaProduceRate,
  reporter,
  rssMb,
} from './bench-kit.mjs';

const TENANTS = arg('tenants', 8);
const CONCURRENCY = arg('concurrency', 16);
const SECONDS = arg('seconds', 15);
const BATCHES = option('batches', '100,500').split(',').map(Number);
const RAW = !flag('no-raw');
const PACED = arg('paced', 10_000);
const PACED_BATCH = 100;
/** Aggregation's sink group (its USAGE_CONSUMER_GROUP default). */
const SINK_GROUP = 'aggregation.usage-sink';
const report = reporter('ingestion', {
  tenants: TENANTS,
  concurrency: CONCURRENCY,
  seconds: SECONDS,
  batches: BATCHES,
  raw: RAW,
  paced: PACED,
});

const env = readStackEnv();
const REGISTRY = 'http://127.0.0.1:3001';
const INGESTION = { host: '127.0.0.1', port: 3002 };
const ingestionPid = Number(readFileSync(path.join(root, '.stack/pids/ingestion.pid'), 'utf8'));
const kafka = kafkaOf(env, 'bench');

async function provision() {
  const admin = env.ADMIN_KEY;
  const account = await post(
    `${REGISTRY}/v1/accounts`,
    { name: 'bench-ingest', currency: 'USD', timezone: 'UTC', billingAnchorDay: 1 },
    admin,
  );
  const bulk = await post(
    `${REGISTRY}/v1/accounts/${account.id}/tenants/bulk`,
    { tenants: Array.from({ length: TENANTS }, (_, i) => ({ name: `bench-${i}` })) },
    admin,
  );
  const keys = [];
  for (const t of bulk.tenants) {
    keys.push((await post(`${REGISTRY}/v1/tenants/${t.id}/api-keys`, { scopes: ['ingest'] }, admin)).secret);
  }
  return { accountId: account.id, tenants: bulk.tenants.map((t, i) => ({ id: t.id, key: keys[i] })) };
}

/** A batch body of `n` distinct API-call events; the prefix keeps ids unique across the run. */
function batchBody(n, prefix) {
  const time = new Date().toISOString();
  const parts = new Array(n);
  for (let i = 0; i < n; i++) {
    parts[i] =
      `{"specversion":"1.0","id":"${prefix}-${i}","source":"bench/api","type":"api.call",` +
      `"subject":"user-${i % 97}","time":"${time}","data":{"route":"/v1/messages","status":200}}`;
  }
  return `[${parts.join(',')}]`;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function postBatch(body, key) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        ...INGESTION,
        agent,
        method: 'POST',
        path: '/v1/events',
        headers: {
          'content-type': 'application/cloudevents-batch+json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${key}`,
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function endOffsets(admin, topic) {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, p) => sum + Number(p.high), 0);
}

async function ingestRun(tenants, batch, admin) {
  const before = await endOffsets(admin, 'usage.events.v1');
  let peakRss = rssMb(ingestionPid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(ingestionPid))), 200);
  const latencies = [];
  let accepted = 0;
  let failures = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      const tenant = tenants[w % tenants.length];
      for (let n = 0; performance.now() < deadline; n++) {
        const body = batchBody(batch, `${randomUUID()}`);
        const s = performance.now();
        const res = await postBatch(body, tenant.key);
        latencies.push(performance.now() - s);
        if (res.status !== 202) {
          failures++;
          if (failures <= 3) console.error(`HTTP ${res.status}: ${res.body.slice(0, 300)}`);
          continue;
        }
        accepted += JSON.parse(res.body).accepted;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const published = (await endOffsets(admin, 'usage.events.v1')) - before;
  latencies.sort((a, b) => a - b);
  return { seconds, accepted, published, failures, latencies, peakRss };
}

/** Seconds until aggregation's sink has committed every message of usage.events.v1 (at most 5 min). */
async function sinkCaughtUp(admin) {
  const t0 = performance.now();
  for (;;) {
    const ends = await admin.fetchTopicOffsets('usage.events.v1');
    const [group] = await admin.fetchOffsets({ groupId: SINK_GROUP, topics: ['usage.events.v1'] });
    const committed = new Map(group.partitions.map((p) => [p.partition, Number(p.offset)]));
    // A partition the group never committed on (-1) is caught up only if it holds nothing.
    const caughtUp = (e) => {
      const offset = committed.get(e.partition) ?? -1;
      return offset < 0 ? Number(e.high) === Number(e.low) : offset >= Number(e.high);
    };
    if (ends.every(caughtUp)) break;
    if (performance.now() - t0 > 300_000) throw new Error('the sink did not catch up within 5 minutes');
    await sleep(250);
  }
  return (performance.now() - t0) / 1000;
}

/** Requests of PACED_BATCH events sent on a schedule for SECONDS: latency of each, failures. */
async function pacedRun(tenants, eventsPerSecond) {
  const perSecond = eventsPerSecond / PACED_BATCH;
  const total = Math.round(perSecond * SECONDS);
  let failures = 0;
  const { latencies, seconds } = await openLoop(total, perSecond, async (i) => {
    const res = await postBatch(batchBody(PACED_BATCH, randomUUID()), tenants[i % tenants.length].key);
    if (res.status !== 202) failures++;
  });
  return { achieved: (total * PACED_BATCH) / seconds, latencies, failures, total };
}

async function main() {
  const { tenants } = await provision();
  const admin = kafka.admin();
  await admin.connect();
  // Warm up: JIT, connections, key cache.
  for (const t of tenants) await postBatch(batchBody(10, randomUUID()), t.key);
  console.log(
    `ingestion bench: ${TENANTS} tenants, ${CONCURRENCY} keep-alive connections, ${SECONDS} s per run`,
  );
  for (const batch of BATCHES) {
    const raw = (packed) =>
      rawKafkaProduceRate(kafka, {
        seconds: SECONDS,
        concurrency: CONCURRENCY,
        batch,
        packed,
        tenants: TENANTS,
      });
    const rawEach = RAW ? await raw(false) : undefined;
    const rawPacked = RAW ? await raw(true) : undefined;
    const r = await ingestRun(tenants, batch, admin);
    const rate = r.accepted / r.seconds;
    console.log(
      `batch ${batch}: ${Math.round(rate).toLocaleString('en')} accepted events/s ` +
        `(${r.accepted.toLocaleString('en')} accepted in ${r.published.toLocaleString('en')} new messages on usage.events.v1, ` +
        `${r.failures} failed requests); per request p50 ${ms(percentile(r.latencies, 50))}, ` +
        `p99 ${ms(percentile(r.latencies, 99))}; ingestion peak RSS ${r.peakRss.toFixed(0)} MB` +
        (RAW
          ? `; raw kafkajs in the same run: ${Math.round(rawEach).toLocaleString('en')} events/s as one message each, ` +
            `${Math.round(rawPacked).toLocaleString('en')} events/s packed ${batch} per message`
          : ''),
    );
    if (RAW) {
      const shape = (packed) => (packed ? `${batch} events per message` : 'one message per event');
      for (const [packed, value] of [
        [false, rawEach],
        [true, rawPacked],
      ]) {
        report({
          name: `raw kafkajs produce, acks = all, ${shape(packed)}`,
          value,
          unit: 'events/s',
          ceilingId: kafkaCeilingId(packed ? batch : 0),
        });
      }
    }
    report({
      name: `accepted events/s, batches of ${batch}`,
      value: rate,
      unit: 'events/s',
      target: atLeast(50_000),
      ceiling: kafkaCeilingId(batch),
      note: `${r.published.toLocaleString('en')} new messages on usage.events.v1`,
      problems: r.failures ? [`${r.failures} requests not answered 202`] : [],
    });
    report({ name: `p50 per request, batches of ${batch}`, value: percentile(r.latencies, 50), unit: 'ms' });
    report({
      name: `p99 per request, batches of ${batch}`,
      value: percentile(r.latencies, 99),
      unit: 'ms',
      ...(batch === 100 ? { target: atMost(100) } : {}),
    });
    report({
      name: `ingestion peak RSS, batches of ${batch}`,
      value: r.peakRss,
      unit: 'MB',
      target: atMost(300),
    });
  }
  if (PACED > 0) {
    // From a caught-up sink: the closed loop leaves it a backlog that would share the cores.
    const waited = await sinkCaughtUp(admin);
    console.log(`the sink caught up with usage.events.v1 in ${waited.toFixed(1)} s`);
    const p = await pacedRun(tenants, PACED);
    const at = `at ${PACED.toLocaleString('en')} events/s offered`;
    console.log(
      `paced, batches of ${PACED_BATCH} ${at}: ${Math.round(p.achieved).toLocaleString('en')} events/s sent, ` +
        `${p.failures} failed requests; per request p50 ${ms(percentile(p.latencies, 50))}, ` +
        `p99 ${ms(percentile(p.latencies, 99))}, max ${ms(p.latencies[p.latencies.length - 1])}`,
    );
    const note = `${p.total.toLocaleString('en')} requests on a schedule over ${SECONDS} s`;
    const problems = p.failures ? [`${p.failures} requests not answered 202`] : [];
    report({
      name: `p50 per request, batches of ${PACED_BATCH}, ${at}`,
      value: percentile(p.latencies, 50),
      unit: 'ms',
      note,
    });
    report({
      name: `p99 per request, batches of ${PACED_BATCH}, ${at}`,
      value: percentile(p.latencies, 99),
      unit: 'ms',
      note,
      problems,
    });
  }
  await admin.disconnect();
  agent.destroy();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
