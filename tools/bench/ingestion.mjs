// Ingestion benchmark against the running local stack (`bash tools/stack/stack.sh up`).
//  1. raw kafkajs: the rate at which one kafkajs producer gets usage records acknowledged
//     (acks = all) by the same cluster, as one message per event and packed the way ingestion
//     publishes them (one message per batch), for comparison;
//  2. POST /v1/events from several tenants over keep-alive connections, in batches of each
//     size asked for: accepted events/s (ingestion answers only after Kafka acknowledged them,
//     cross-checked against the growth of usage.events.v1's end offsets), latency per request,
//     and the ingestion process's peak RSS.
// Usage: node tools/bench/ingestion.mjs [--tenants 8] [--concurrency 16] [--seconds 15] [--batches 100,500]
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { readStackEnv, root } from '../stack/stack-env.mjs';
import { ms, percentile, post, rssMb } from './bench-kit.mjs';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const TENANTS = Number(arg('tenants', 8));
const CONCURRENCY = Number(arg('concurrency', 16));
const SECONDS = Number(arg('seconds', 15));
const BATCHES = arg('batches', '100,500').split(',').map(Number);

const env = readStackEnv();
const REGISTRY = 'http://127.0.0.1:3001';
const INGESTION = { host: '127.0.0.1', port: 3002 };
const ingestionPid = Number(readFileSync(path.join(root, '.stack/pids/ingestion.pid'), 'utf8'));
const kafka = new Kafka({
  clientId: 'bench',
  brokers: env.KAFKA_BROKERS.split(','),
  logLevel: logLevel.ERROR,
});

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

async function rawKafkaRate(batch, packed) {
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  const topic = 'bench.raw.v1';
  const record = (i) =>
    JSON.stringify({
      id: `${randomUUID()}-${i}`,
      tenantId: `t-${i % TENANTS}`,
      accountId: 'a-1',
      source: 'bench/api',
      type: 'api.call',
      subject: `user-${i % 97}`,
      timeMs: Date.now(),
      data: { route: '/v1/messages', status: 200 },
      receivedAtMs: Date.now(),
    });
  await producer.send({ topic, acks: -1, messages: [{ value: record(0) }] });
  let sent = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      while (performance.now() < deadline) {
        const messages = Array.from({ length: batch }, (_, i) => ({
          key: `t-${(w + i) % TENANTS}`,
          value: record(i),
        }));
        await producer.send({ topic, acks: -1, messages });
        sent += batch;
      }
    }),
  );
  const rate = sent / ((performance.now() - t0) / 1000);
  await producer.disconnect();
  return rate;
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
    const raw = await rawKafkaRate(batch, false);
    const rawPacked = await rawKafkaRate(batch, true);
    const r = await ingestRun(tenants, batch, admin);
    console.log(
      `batch ${batch}: ${Math.round(r.accepted / r.seconds).toLocaleString('en')} accepted events/s ` +
        `(${r.accepted.toLocaleString('en')} accepted in ${r.published.toLocaleString('en')} new messages on usage.events.v1, ` +
        `${r.failures} failed requests); per request p50 ${ms(percentile(r.latencies, 50))}, ` +
        `p99 ${ms(percentile(r.latencies, 99))}; ingestion peak RSS ${r.peakRss.toFixed(0)} MB; ` +
        `raw kafkajs in the same run: ${Math.round(raw).toLocaleString('en')} events/s as one message each, ` +
        `${Math.round(rawPacked).toLocaleString('en')} events/s packed`,
    );
  }
  await admin.disconnect();
  agent.destroy();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
