// Audit benchmark against the running local stack (`bash tools/stack/stack.sh up`, `npm run build`).
// It runs its own audit instance (dist/) on a scratch database and a topic of its own, so the
// stack's audit log and topics are left alone:
//  1. appends/s with chaining, end to end: domain events written to the instance's topic (spread
//     over ACCOUNTS accounts) until all are stored; in rounds of ROUND events, so the local mock
//     broker's in-memory log cap never drops any (ARCHITECTURE.md §3);
//  2. appends/s with chaining, in the store alone: APPENDERS concurrent appenders, one account;
//  3. verification of one account's chain of --verify entries (default 1,000,000) over
//     GET /v1/audit/verify.
// Usage: node tools/bench/audit.mjs [--events 100000] [--verify 1000000]
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { readStackEnv, root } from '../stack/stack-env.mjs';
import { arg, atLeast, atMost, kafkaOf, reporter, sizeUnlike, sleep } from './bench-kit.mjs';

const require = createRequire(import.meta.url);
const { openScratchDatabase } = require(path.join(root, 'dist/libs/persistence/src/index.js'));
const { AuditStore, auditMigrations } = require(path.join(root, 'dist/libs/audit-data-access/src/index.js'));
const { canonicalJson } = require(path.join(root, 'dist/libs/audit-domain/src/index.js'));

const EVENTS = arg('events', 100_000);
const VERIFY = arg('verify', 1_000_000);
const ACCOUNTS = 50;
const ROUND = 10_000;
const APPENDERS = 4;
const PORT = 3925;
const ROLE = { appRole: 'audit_app', appPassword: 'audit_app' };

const env = readStackEnv();
const report = reporter('audit', {
  events: EVENTS,
  verify: VERIFY,
  accounts: ACCOUNTS,
  appenders: APPENDERS,
});
const rate = (n, seconds) => `${Math.round(n / seconds).toLocaleString('en')}/s`;

function event(accountId, i) {
  return {
    eventId: randomUUID(),
    type: 'tenant.updated',
    schemaVersion: 1,
    occurredAt: new Date().toISOString(),
    accountId,
    tenantId: `ten_${i % 20}`,
    aggregateType: 'tenant',
    aggregateId: `ten_${i % 20}`,
    aggregateVersion: i + 1,
    actor: { type: 'management-key', id: 'mk_bench' },
    source: 'bench',
    correlationId: randomUUID(),
    data: { changes: { name: `tenant ${i}`, limits: { maxAgents: i % 50 } } },
  };
}

function draft(accountId, i) {
  const now = new Date().toISOString();
  return {
    eventId: randomUUID(),
    time: now,
    recordedAt: now,
    accountId,
    tenantId: `ten_${i % 20}`,
    actor: { type: 'management-key', id: 'mk_bench' },
    action: 'tenant.updated',
    target: { type: 'tenant', id: `ten_${i % 20}`, version: i + 1 },
    changeJson: canonicalJson({ changes: { name: `tenant ${i}`, limits: { maxAgents: i % 50 } } }),
    source: 'bench',
    correlationId: null,
  };
}

async function startInstance(databaseUrl, topic) {
  const child = spawn(process.execPath, [path.join(root, 'dist/apps/audit/src/main.js')], {
    env: {
      PATH: process.env.PATH,
      KAFKA_BROKERS: env.KAFKA_BROKERS,
      DATABASE_URL: databaseUrl,
      PORT: String(PORT),
      LOG_LEVEL: 'warn',
      AUDIT_TOPICS: topic,
      AUDIT_CONSUMER_GROUP: `audit.bench-${randomUUID().slice(0, 8)}`,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 300; i++) {
    const ready = await fetch(`http://127.0.0.1:${PORT}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return child;
    if (child.exitCode !== null) throw new Error(`audit instance exited with ${child.exitCode}`);
    await sleep(200);
  }
  throw new Error('audit instance did not become ready');
}

async function endToEnd(db, topic) {
  const producer = kafkaOf(env, 'bench-audit').producer({ allowAutoTopicCreation: true });
  await producer.connect();
  const accounts = Array.from({ length: ACCOUNTS }, () => `acc_bench_${randomUUID().slice(0, 8)}`);
  const stored = async () => Number((await db.query('SELECT count(*) AS n FROM audit_entries'))[0].n);
  const t0 = performance.now();
  let sent = 0;
  while (sent < EVENTS) {
    const n = Math.min(ROUND, EVENTS - sent);
    for (let i = 0; i < n; i += 500) {
      const messages = [];
      for (let j = i; j < Math.min(i + 500, n); j++) {
        const accountId = accounts[(sent + j) % ACCOUNTS];
        messages.push({ key: accountId, value: JSON.stringify(event(accountId, sent + j)) });
      }
      await producer.send({ topic, acks: -1, messages });
    }
    sent += n;
    while ((await stored()) < sent - ROUND / 4) await sleep(20);
  }
  while ((await stored()) < sent) await sleep(20);
  const seconds = (performance.now() - t0) / 1000;
  await producer.disconnect();
  return { sent, seconds };
}

async function storeOnly(store) {
  const accountId = `acc_bench_${randomUUID().slice(0, 8)}`;
  const perAppender = 20;
  const batch = 500;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: APPENDERS }, async () => {
      for (let b = 0; b < perAppender; b++)
        await store.append(Array.from({ length: batch }, (_, i) => draft(accountId, i)));
    }),
  );
  return { appended: APPENDERS * perAppender * batch, seconds: (performance.now() - t0) / 1000 };
}

async function fill(store, accountId, n) {
  const t0 = performance.now();
  for (let done = 0; done < n; done += 5_000)
    await store.append(
      Array.from({ length: Math.min(5_000, n - done) }, (_, i) => draft(accountId, done + i)),
    );
  return (performance.now() - t0) / 1000;
}

async function main() {
  const scratch = await openScratchDatabase(env.POSTGRES_URL, 'bench_audit', {
    migrations: auditMigrations(ROLE),
  });
  const topic = `bench-${randomUUID().slice(0, 8)}.events.v1`;
  const instance = await startInstance(scratch.url, topic);
  try {
    const store = new AuditStore(scratch.db);
    const e2e = await endToEnd(scratch.db, topic);
    console.log(
      `appends end to end (Kafka → audit → Postgres, ${ACCOUNTS} accounts): ${e2e.sent.toLocaleString('en')} in ` +
        `${e2e.seconds.toFixed(1)} s = ${rate(e2e.sent, e2e.seconds)} (target ≥ 5,000/s)`,
    );
    report({
      name: 'chained appends end to end (Kafka → audit → Postgres)',
      value: e2e.sent / e2e.seconds,
      unit: 'entries/s',
      target: atLeast(5_000),
      note: `${e2e.sent.toLocaleString('en')} events over ${ACCOUNTS} accounts in rounds of ${ROUND.toLocaleString('en')}`,
    });
    const direct = await storeOnly(store);
    console.log(
      `appends in the store, ${APPENDERS} concurrent appenders on one account, 500 per batch: ` +
        `${direct.appended.toLocaleString('en')} in ${direct.seconds.toFixed(1)} s = ${rate(direct.appended, direct.seconds)}`,
    );
    report({
      name: `chained appends in the store, ${APPENDERS} concurrent appenders on one account`,
      value: direct.appended / direct.seconds,
      unit: 'entries/s',
      note: `${direct.appended.toLocaleString('en')} entries, 500 per append`,
    });
    const accountId = `acc_bench_${randomUUID().slice(0, 8)}`;
    const fillSeconds = await fill(store, accountId, VERIFY);
    console.log(
      `filled one account with ${VERIFY.toLocaleString('en')} chained entries in ${fillSeconds.toFixed(1)} s ` +
        `(${rate(VERIFY, fillSeconds)}, 5,000 per append)`,
    );
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${PORT}/v1/audit/verify?accountId=${accountId}`, {
      headers: { authorization: `Bearer ${env.ADMIN_KEY}` },
    });
    const verdict = await res.json();
    const seconds = (performance.now() - t0) / 1000;
    if (!verdict.ok || verdict.entries !== VERIFY)
      throw new Error(`verify failed: ${JSON.stringify(verdict)}`);
    console.log(
      `GET /v1/audit/verify of ${VERIFY.toLocaleString('en')} entries: ${seconds.toFixed(1)} s ` +
        `(${rate(VERIFY, seconds)}; target ≤ 30 s)`,
    );
    report({
      name: `GET /v1/audit/verify of ${VERIFY.toLocaleString('en')} entries`,
      value: seconds,
      unit: 's',
      target: atMost(30, sizeUnlike(VERIFY, 1_000_000, 'entries')),
      note: `one account's chain, filled at ${rate(VERIFY, fillSeconds)}`,
    });
  } finally {
    instance.kill('SIGTERM');
    await new Promise((resolve) => instance.once('exit', resolve));
    await scratch.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
