// Pooled-usage query and entitlement-check benchmark against the running local stack
// (`bash tools/stack/stack.sh up`):
//  1. an account of 1,000 tenants (registry bulk create) with EVENTS usage rows over one past
//     month (api_calls 40 %, voice_minutes 30 %, pcc 20 %, mau 10 %), written straight into
//     aggregation's meter_values_by_time (the sink's own table; the sink is measured by aggregation.mjs),
//     then marked stale so aggregation's rollup builder rolls the month up, timed;
//  2. GET /v1/usage for the whole month per meter, QUERIES sequential requests each: p50/p95;
//  3. POST /v1/entitlements/check at RATE checks/s for SECONDS (random tenant, pooled meter with a
//     hard cap, and a capability limit): p50/p99 and the achieved rate.
// Usage: node tools/bench/pooled-usage.mjs [--events 10000000] [--tenants 1000] [--queries 40] [--rate 2000]
//        [--seconds 10]
//        [--account <id>]   (measure again on an account a previous run loaded, skipping 1.)
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { readStackEnv } from '../stack/stack-env.mjs';
import {
  HOUR,
  aggregationStores,
  arg,
  atMost,
  awaitRollups,
  insertMeterValues,
  kafkaOf,
  markStale,
  meterValueRow,
  openLoop,
  option,
  percentile,
  post,
  reporter,
  rng,
  sizeUnlike,
  sleep,
} from './bench-kit.mjs';

const ACCOUNT = option('account', undefined);
const EVENTS = arg('events', 10_000_000);
const QUERIES = arg('queries', 40);
const RATE = arg('rate', 2_000);
const SECONDS = arg('seconds', 10);
const TENANTS = arg('tenants', 1_000); // one bulk request: at most 1,000
const report = reporter('pooled-usage', {
  events: EVENTS,
  tenants: TENANTS,
  queries: QUERIES,
  rate: RATE,
  seconds: SECONDS,
  ...(ACCOUNT ? { account: ACCOUNT } : {}),
});

const env = readStackEnv();
const REGISTRY = 'http://127.0.0.1:3001';
const AGGREGATION = 'http://127.0.0.1:3003';

const now = new Date();
const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1);
const monthEnd = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);

async function provision() {
  const account = await post(
    `${REGISTRY}/v1/accounts`,
    { name: 'bench-pooled', currency: 'USD', timezone: 'UTC', billingAnchorDay: 1 },
    env.ADMIN_KEY,
  );
  const tenants = Array.from({ length: TENANTS }, (_, i) => ({
    name: `app-${i}`,
    limits: { maxAgents: 20 + (i % 30) },
  }));
  const bulk = await post(`${REGISTRY}/v1/accounts/${account.id}/tenants/bulk`, { tenants }, env.ADMIN_KEY);
  return { accountId: account.id, tenantIds: bulk.tenants.map((t) => t.id) };
}

async function load({ accountId, tenantIds }) {
  const { ch, pg, close } = await aggregationStores(env);
  const random = rng(42);
  const span = monthEnd - monthStart;
  const meterOf = (x) => (x < 0.4 ? 'api_calls' : x < 0.7 ? 'voice_minutes' : x < 0.9 ? 'pcc' : 'mau');
  const BATCH = 200_000;
  const started = performance.now();
  for (let done = 0; done < EVENTS; done += BATCH) {
    const rows = [];
    for (let i = done; i < Math.min(EVENTS, done + BATCH); i++) {
      const meter = meterOf(random());
      const t = monthStart + Math.floor(random() * span);
      const tenant = tenantIds[Math.floor(random() * TENANTS)];
      const value =
        meter === 'voice_minutes'
          ? String(Math.floor(random() * 600) * 50_000_000)
          : meter === 'pcc'
            ? String(Math.floor(random() * 40) * 1_000_000_000)
            : '1000000000';
      rows.push(
        meterValueRow({
          accountId,
          tenantId: tenant,
          meter,
          eventId: `b${i}`,
          timeMs: t,
          subject: meter === 'mau' ? `user-${Math.floor(random() * 200_000)}` : '',
          valueNano: value,
        }),
      );
    }
    await insertMeterValues(ch, rows);
    process.stdout.write(`\r  inserted ${Math.min(EVENTS, done + BATCH).toLocaleString()} rows`);
  }
  const insertS = (performance.now() - started) / 1000;
  console.log(
    `\r  inserted ${EVENTS.toLocaleString()} rows in ${insertS.toFixed(1)} s (${Math.round(EVENTS / insertS).toLocaleString()} rows/s)`,
  );
  report({
    name: 'setup: usage rows inserted into meter_values_by_time',
    value: EVENTS / insertS,
    unit: 'rows/s',
    note: `${EVENTS.toLocaleString('en')} rows in 200,000-row inserts`,
  });

  // As the sink does after an insert: mark the hours stale, then wait for the rollup builder.
  const hours = [];
  for (let h = monthStart; h < monthEnd; h += HOUR) hours.push({ accountId, hourMs: h });
  await markStale(pg, hours);
  const rollupS = await awaitRollups(pg, [accountId]);
  console.log(`  rollups of ${hours.length} hours rebuilt in ${rollupS.toFixed(1)} s`);
  report({ name: `setup: rollups of ${hours.length} account-hours rebuilt`, value: rollupS, unit: 's' });
  await close();
}

async function queries(accountId) {
  for (const meter of ['api_calls', 'voice_minutes', 'pcc', 'mau']) {
    const url = `${AGGREGATION}/v1/usage?meter=${meter}&accountId=${accountId}&from=${new Date(monthStart).toISOString()}&to=${new Date(monthEnd).toISOString()}`;
    const times = [];
    let body;
    for (let i = 0; i < QUERIES; i++) {
      const t0 = performance.now();
      const res = await fetch(url, { headers: { authorization: `Bearer ${env.ADMIN_KEY}` } });
      body = await res.json();
      if (!res.ok) throw new Error(`${meter}: ${res.status} ${JSON.stringify(body)}`);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    console.log(
      `  ${meter.padEnd(14)} value ${String(body.value).padStart(12)}  events ${String(body.events).padStart(9)}  tenants ${body.tenants.length}  p50 ${percentile(times, 50).toFixed(1)} ms  p95 ${percentile(times, 95).toFixed(1)} ms`,
    );
    report({
      name: `GET /v1/usage, ${meter} over the month, p95`,
      value: percentile(times, 95),
      unit: 'ms',
      target: atMost(
        200,
        [sizeUnlike(EVENTS, 10_000_000, 'events'), sizeUnlike(TENANTS, 1_000, 'tenants')]
          .filter(Boolean)
          .join(', '),
      ),
      note: `${QUERIES} sequential queries; p50 ${percentile(times, 50).toFixed(1)} ms; ${body.events} events, ${body.tenants.length} tenants`,
    });
  }
}

async function announcePlan(accountId) {
  const producer = kafkaOf(env, 'bench-pooled').producer();
  await producer.connect();
  await producer.send({
    topic: 'billing.events.v1',
    acks: -1,
    messages: [
      {
        key: accountId,
        value: JSON.stringify({
          eventId: randomUUID(),
          type: 'subscription.changed',
          schemaVersion: 1,
          occurredAt: new Date().toISOString(),
          accountId,
          aggregateType: 'subscription',
          aggregateId: `sub_${accountId}`,
          aggregateVersion: 1,
          actor: { type: 'service', id: 'bench' },
          source: 'billing',
          data: {
            subscriptionId: `sub_${accountId}`,
            planId: 'bench',
            planVersion: 1,
            currency: 'USD',
            anchorDay: 1,
            timezone: 'UTC',
            effectiveFromMs: 0,
            meters: [
              { meterKey: 'api_calls', included: '1000000', hardCap: '2000000' },
              { meterKey: 'voice_minutes', included: '50000' },
            ],
          },
        }),
      },
    ],
  });
  await producer.disconnect();
}

async function entitlements({ accountId, tenantIds }) {
  await announcePlan(accountId);
  // node:http with a keep-alive agent: lighter on the client than fetch, which shares the 2 cores.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const check = (body) =>
    new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const req = http.request(
        `${AGGREGATION}/v1/entitlements/check`,
        {
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
            authorization: `Bearer ${env.ADMIN_KEY}`,
          },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  // Until the plan has reached aggregation and every tenant is cached once (warm-up, not timed).
  for (;;) {
    const res = await check({ tenantId: tenantIds[0], key: 'api_calls', quantity: 1 });
    if (res.body.reason === 'within_quota') break;
    await sleep(200);
  }
  for (let i = 0; i < tenantIds.length; i += 50) {
    await Promise.all(
      tenantIds.slice(i, i + 50).map((tenantId) => check({ tenantId, key: 'maxAgents', quantity: 5 })),
    );
  }
  const random = rng(7);
  const bodyOf = () => {
    const tenantId = tenantIds[Math.floor(random() * tenantIds.length)];
    return random() < 0.5
      ? { tenantId, key: 'api_calls', quantity: 1 }
      : { tenantId, key: 'maxAgents', quantity: 5 };
  };
  // Capacity first: 4 checks always in flight for 3 s, to set the paced rate below against.
  let answered = 0;
  const capacityStarted = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (performance.now() - capacityStarted < 3_000) {
        await check(bodyOf());
        answered++;
      }
    }),
  );
  const capacity = answered / ((performance.now() - capacityStarted) / 1000);
  console.log(
    `  capacity: ${Math.round(capacity)} checks/s with 4 in flight (this client on the same cores)`,
  );
  report({
    name: 'POST /v1/entitlements/check capacity, 4 in flight',
    value: capacity,
    unit: 'checks/s',
    note: 'closed loop for 3 s before the paced run',
  });
  let failures = 0;
  const total = RATE * SECONDS;
  const { latencies: times, seconds: elapsed } = await openLoop(total, RATE, async () => {
    if ((await check(bodyOf())).status !== 200) failures++;
  });
  console.log(
    `  ${total} checks in ${elapsed.toFixed(1)} s (${Math.round(total / elapsed)} checks/s), non-200: ${failures}; p50 ${percentile(times, 50).toFixed(2)} ms, p99 ${percentile(times, 99).toFixed(2)} ms, max ${times[times.length - 1].toFixed(1)} ms`,
  );
  const at = `at ${RATE.toLocaleString('en')} checks/s`;
  const note = `${total.toLocaleString('en')} checks in ${elapsed.toFixed(1)} s (${Math.round(total / elapsed).toLocaleString('en')}/s achieved)`;
  report({ name: `POST /v1/entitlements/check p50 ${at}`, value: percentile(times, 50), unit: 'ms', note });
  report({
    name: `POST /v1/entitlements/check p99 ${at}`,
    value: percentile(times, 99),
    unit: 'ms',
    target: atMost(5, sizeUnlike(RATE, 2_000, 'checks/s')),
    note,
    problems: failures ? [`${failures} checks not answered 200`] : [],
  });
}

async function main() {
  console.log(
    `pooled usage: 1 account × ${TENANTS} tenants, ${EVENTS.toLocaleString()} usage rows in ${new Date(monthStart).toISOString().slice(0, 7)}`,
  );
  let account;
  if (ACCOUNT) {
    const tenantIds = [];
    for (let cursor = ''; ;) {
      const page = await fetch(
        `${REGISTRY}/v1/accounts/${ACCOUNT}/tenants?limit=500${cursor ? `&cursor=${cursor}` : ''}`,
        { headers: { authorization: `Bearer ${env.ADMIN_KEY}` } },
      ).then((r) => r.json());
      tenantIds.push(...page.items.map((t) => t.id));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    account = { accountId: ACCOUNT, tenantIds };
  } else {
    account = await provision();
    await load(account);
  }
  console.log(`GET /v1/usage over the month, ${QUERIES} sequential queries per meter:`);
  await queries(account.accountId);
  console.log(`POST /v1/entitlements/check at ${RATE}/s for ${SECONDS} s:`);
  await entitlements(account);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
