// Registry benchmark against the running local stack (`bash tools/stack/stack.sh up`):
//  1. bulk creation of 1,000 tenants from a template (one POST /v1/accounts/:id/tenants/bulk)
//  2. cached key verification over gRPC (VerifyKey), latency percentiles over N sequential calls
// Usage: node tools/bench/registry.mjs [--calls 20000] [--tenants 1000]
import { createRequire } from 'node:module';
import path from 'node:path';
import { readStackEnv, root } from '../stack/stack-env.mjs';
import { arg, atMost, percentile, post as postTo, reporter, sizeUnlike, sleep } from './bench-kit.mjs';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const { loadSync } = require('@grpc/proto-loader');

const env = readStackEnv();
const REGISTRY = 'http://127.0.0.1:3001';
const post = (pathname, body) => postTo(`${REGISTRY}${pathname}`, body, env.ADMIN_KEY);
const calls = arg('calls', 20_000);
const TENANTS = arg('tenants', 1_000); // one bulk request: at most 1,000
const report = reporter('registry', { calls, tenants: TENANTS });

async function main() {
  const account = await post('/v1/accounts', {
    name: 'bench',
    currency: 'USD',
    timezone: 'UTC',
    billingAnchorDay: 1,
  });
  const template = await post('/v1/templates', {
    accountId: account.id,
    name: 'bench',
    limits: { maxAgents: 10, diskQuotaMb: 1024, maxWidgets: 3 },
    features: { aiAssist: true },
  });
  const tenants = Array.from({ length: TENANTS }, (_, i) => ({
    name: `bench-${i}`,
    limits: { maxAgents: i % 50 },
  }));
  const t0 = performance.now();
  const bulk = await post(`/v1/accounts/${account.id}/tenants/bulk`, { templateId: template.id, tenants });
  const bulkMs = performance.now() - t0;
  console.log(`bulk create: ${bulk.created} tenants in ${(bulkMs / 1000).toFixed(2)} s (target ≤ 10 s)`);
  report({
    name: `bulk creation of ${TENANTS.toLocaleString('en')} tenants from a template`,
    value: bulkMs / 1000,
    unit: 's',
    target: atMost(10, sizeUnlike(TENANTS, 1_000, 'tenants')),
    problems: bulk.created === TENANTS ? [] : [`${bulk.created} of ${TENANTS} created`],
  });

  const key = await post(`/v1/tenants/${bulk.tenants[0].id}/api-keys`, { scopes: ['ingest'] });
  const def = loadSync(path.join(root, 'libs/contracts/src/proto/registry.proto'), {
    keepCase: false,
    longs: Number,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(def);
  const client = new pkg.metering.registry.v1.TenantRegistry(
    '127.0.0.1:50051',
    grpc.credentials.createInsecure(),
  );
  const verify = () =>
    new Promise((resolve, reject) =>
      client.VerifyKey({ key: key.secret, requiredScope: 'ingest' }, (err, reply) =>
        err ? reject(err) : resolve(reply),
      ),
    );
  // Let the outbox relay publish the bulk's 1,000 events first: this measures steady-state verification.
  await sleep(5_000);
  for (let i = 0; i < 2_000; i++) await verify(); // warm up connection, JIT and cache
  const samples = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const s = process.hrtime.bigint();
    const reply = await verify();
    samples[i] = Number(process.hrtime.bigint() - s) / 1e6;
    if (!reply.valid) throw new Error('key did not verify');
  }
  samples.sort();
  const fmt = (v) => `${v.toFixed(3)} ms`;
  console.log(
    `VerifyKey over gRPC (cached), ${calls} sequential calls: p50 ${fmt(percentile(samples, 50))}, ` +
      `p99 ${fmt(percentile(samples, 99))}, max ${fmt(samples[samples.length - 1])} (target p99 ≤ 2 ms)`,
  );
  const note = `${calls.toLocaleString('en')} sequential calls after 2,000 warm-up calls`;
  report({ name: 'cached VerifyKey over gRPC, p50', value: percentile(samples, 50), unit: 'ms', note });
  report({
    name: 'cached VerifyKey over gRPC, p99',
    value: percentile(samples, 99),
    unit: 'ms',
    target: atMost(2),
    note,
  });
  client.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
