// Billing benchmark against the running local stack (`bash tools/stack/stack.sh up`): one account
// with many tenants, each sending api.call events into the last ended billing period through
// ingestion; then the time of
//  1. the first billing run of that account (usage from aggregation over gRPC, rating, per-tenant
//     attribution, the draft and its line rows in one transaction),
//  2. a second run (re-rated, unchanged),
//  3. the upcoming-invoice preview of the current period.
// Usage: node tools/bench/billing.mjs [--tenants 300] [--events 20]
import { randomUUID } from 'node:crypto';
import { readStackEnv } from '../stack/stack-env.mjs';
import {
  HOUR,
  arg,
  call as callWith,
  lastEndedPeriod,
  ms,
  post,
  reporter,
  sleep,
  timed,
} from './bench-kit.mjs';

const TENANTS = arg('tenants', 300);
const EVENTS = arg('events', 20);
const report = reporter('billing', { tenants: TENANTS, events: EVENTS });

const env = readStackEnv();
const REGISTRY = 'http://127.0.0.1:3001';
const INGESTION = 'http://127.0.0.1:3002';
const AGGREGATION = 'http://127.0.0.1:3003';
const BILLING = 'http://127.0.0.1:3004';
const admin = env.ADMIN_KEY;

const call = (method, url, body) => callWith(method, url, body, admin);

async function main() {
  // Anchor day of two days ago, so the last period ended recently (events may be 35 days old).
  const { anchorDay, startMs: lastStart, endMs: lastEnd } = lastEndedPeriod();

  const account = await post(
    `${REGISTRY}/v1/accounts`,
    {
      name: 'bench-billing',
      currency: 'USD',
      timezone: 'UTC',
      billingAnchorDay: anchorDay,
    },
    admin,
  );
  const { tenants } = await post(
    `${REGISTRY}/v1/accounts/${account.id}/tenants/bulk`,
    {
      tenants: Array.from({ length: TENANTS }, (_, i) => ({ name: `bench-${i}` })),
    },
    admin,
  );
  console.log(`account ${account.id} with ${tenants.length} tenants`);

  const time = new Date(lastEnd - HOUR).toISOString();
  const t0 = performance.now();
  for (let i = 0; i < tenants.length; i += 10) {
    await Promise.all(
      tenants.slice(i, i + 10).map(async (tenant, j) => {
        const key = await post(`${REGISTRY}/v1/tenants/${tenant.id}/api-keys`, { scopes: ['ingest'] }, admin);
        const count = EVENTS + ((i + j) % 7);
        const events = Array.from({ length: count }, () => ({
          specversion: '1.0',
          id: randomUUID(),
          source: 'bench://billing',
          type: 'api.call',
          time,
          data: {},
        }));
        const res = await fetch(`${INGESTION}/v1/events`, {
          method: 'POST',
          headers: {
            'content-type': 'application/cloudevents-batch+json',
            authorization: `Bearer ${key.secret}`,
          },
          body: JSON.stringify(events),
        });
        if (res.status !== 202) throw new Error(`ingestion answered ${res.status}`);
      }),
    );
  }
  const expected = tenants.length * EVENTS + tenants.reduce((s, _, i) => s + (i % 7), 0);
  for (;;) {
    const usage = await call('GET', `${AGGREGATION}/v1/usage?meter=api_calls&accountId=${account.id}`);
    if (usage.events >= expected) break;
    await sleep(250);
  }
  console.log(`${expected} events stored in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const planId = `bench_${randomUUID().slice(0, 8)}`;
  await call('POST', `${BILLING}/v1/plans`, {
    id: planId,
    name: 'bench',
    currency: 'USD',
    baseFee: '499.00',
    meters: [
      {
        meterKey: 'api_calls',
        included: String(Math.floor(expected / 2)),
        overage: {
          type: 'GRADUATED',
          tiers: [
            { upTo: '1000', unitPrice: '0.003' },
            { upTo: '10000', unitPrice: '0.002' },
            { unitPrice: '0.001' },
          ],
        },
      },
      { meterKey: 'mau', included: '1000', overage: { type: 'PER_UNIT', unitPrice: '0.05' } },
    ],
    gracePeriodHours: 35 * 24,
  });
  await call('PUT', `${BILLING}/v1/accounts/${account.id}/subscription`, {
    planId,
    planVersion: 1,
    startAt: new Date(lastStart).toISOString(),
    anchorDay,
  });

  const run = () => call('POST', `${BILLING}/v1/billing-runs`, { accountId: account.id });
  const first = await timed(run);
  const second = await timed(run);
  const preview = await timed(() => call('GET', `${BILLING}/v1/accounts/${account.id}/upcoming-invoice`));
  const { invoices } = await call('GET', `${BILLING}/v1/accounts/${account.id}/invoices`);
  const usageLine = invoices[0].lines.find((l) => l.meterKey === 'api_calls');
  const subLines = usageLine.attribution.reduce((s, a) => s + a.amount.minor, 0);
  console.log(
    `first run (drafted): ${ms(first.ms)}; second run (${first.value.accounts[0].invoices[0].outcome} → ${second.value.accounts[0].invoices[0].outcome}): ${ms(second.ms)}; upcoming preview: ${ms(preview.ms)}`,
  );
  console.log(
    `invoice total ${invoices[0].total.formatted} USD; api_calls line ${usageLine.amount.formatted} over ${usageLine.attribution.length} tenant sub-lines summing to ${(subLines / 100).toFixed(2)}`,
  );
  const problems = [
    ...(invoices.length === 1 ? [] : [`${invoices.length} invoices`]),
    ...(subLines === usageLine.amount.minor
      ? []
      : [`sub-lines ${subLines} ≠ line ${usageLine.amount.minor}`]),
  ];
  const size = `1 account × ${TENANTS.toLocaleString('en')} tenants, ${expected.toLocaleString('en')} events via ingestion`;
  report({
    name: 'first billing run of one account (drafts)',
    value: first.ms,
    unit: 'ms',
    note: size,
    problems,
  });
  report({
    name: 'second billing run of that account (re-rated)',
    value: second.ms,
    unit: 'ms',
    note: `outcome ${second.value.accounts[0].invoices[0].outcome}`,
  });
  report({ name: 'upcoming-invoice preview of the current period', value: preview.ms, unit: 'ms' });
}

await main();
