// Billing-run benchmark against the running local stack (`bash tools/stack/stack.sh up`), the two
// targets of the billing issue:
//  (a) one billing run for ONE account of SINGLE_TENANTS tenants × 5 meters (target ≤ 10 s),
//  (b) one billing run over ACCOUNTS accounts of TENANTS tenants each, 5 meters (target ≤ 60 s),
// each followed by a second run that must leave every invoice unchanged.
// Setup, not timed: registry accounts and bulk-created tenants (billing and aggregation would take
// any id; real ones keep the data shaped as in production), a plan with api_calls, voice_minutes,
// video_minutes, pcc and mau (included quantities, graduated and per-unit overage), ROWS usage rows
// per tenant and meter in the last ended period written straight into aggregation's
// meter_values_by_time and marked stale (as pooled-usage.mjs does), rollups awaited, then the
// subscriptions (from that period's start, so it is the only ended period).
// Timed: POST /v1/billing-runs { asOf } ((a) with its accountId, (b) without: every subscribed
// account, so accounts of earlier runs and tests are included and counted in the report). Checked:
// each account of the bench invoiced once, total = sum of its lines, each usage line = sum of its
// tenant sub-lines, pooled quantities = what was loaded; the second run: outcomes `unchanged`, same
// invoice ids, versions and totals.
// The scheduled run (BILLING_RUN_INTERVAL_MS, 60 s on the local stack) would draft the bench's
// invoices by itself: the bench finds its phase with a sentinel account (the moment its invoice is
// drafted), subscribes the measured accounts just after a tick and says when a tick fell within a
// timed run. Afterwards it finalizes the bench's invoices (`--keep-drafts` leaves them), so the
// scheduler does not re-rate them every minute for the 35 days of grace.
// Usage: node tools/bench/billing-runs.mjs [--single-tenants 10000] [--accounts 1000] [--tenants 10]
//        [--rows 3] [--hours 3] [--only a|b] [--tick-ms 60000] [--keep-drafts]
import { randomUUID } from 'node:crypto';
import { readStackEnv } from '../stack/stack-env.mjs';
import {
  HOUR,
  aggregationStores,
  arg,
  atMost,
  awaitRollups,
  call,
  flag,
  insertMeterValues,
  lastEndedPeriod,
  mapLimit,
  markStale,
  meterValueRow,
  option,
  reporter,
  rng,
  sizeUnlike,
  sleep,
  timed,
} from './bench-kit.mjs';

const SINGLE_TENANTS = arg('single-tenants', 10_000);
const ACCOUNTS = arg('accounts', 1_000);
const TENANTS = arg('tenants', 10);
const ROWS = arg('rows', 3);
/** Consecutive hours of the period each (b) account's rows fall in ((a) spreads over the period). */
const SPREAD_HOURS = arg('hours', 3);
const TICK_MS = arg('tick-ms', 60_000);
const ONLY = option('only', '');
const KEEP_DRAFTS = flag('keep-drafts');
const report = reporter('billing-runs', {
  singleTenants: SINGLE_TENANTS,
  accounts: ACCOUNTS,
  tenants: TENANTS,
  rows: ROWS,
  hours: SPREAD_HOURS,
  tickMs: TICK_MS,
  ...(ONLY ? { only: ONLY } : {}),
  keepDrafts: KEEP_DRAFTS,
});

const env = readStackEnv();
const admin = env.ADMIN_KEY;
const REGISTRY = 'http://127.0.0.1:3001';
const BILLING = 'http://127.0.0.1:3004';
const api = (method, url, body) => call(method, url, body, admin);
const RUN = randomUUID().slice(0, 8);
const UNIT = 1_000_000_000n;
const METERS = ['api_calls', 'voice_minutes', 'video_minutes', 'pcc', 'mau'];
const { anchorDay, startMs, endMs } = lastEndedPeriod();
const iso = (t) => new Date(t).toISOString();
const secs = (t) => `${(t / 1000).toFixed(2)} s`;
const n = (v) => v.toLocaleString('en-US');
const log = (...a) => console.log(...a);

const planBody = (id) => ({
  id,
  name: 'bench billing runs',
  currency: 'USD',
  baseFee: '99.00',
  meters: [
    {
      meterKey: 'api_calls',
      included: '20',
      overage: {
        type: 'GRADUATED',
        tiers: [
          { upTo: '1000', unitPrice: '0.01' },
          { upTo: '100000', unitPrice: '0.005' },
          { unitPrice: '0.002' },
        ],
      },
    },
    { meterKey: 'voice_minutes', included: '60', overage: { type: 'PER_UNIT', unitPrice: '0.012' } },
    {
      meterKey: 'video_minutes',
      included: '30',
      overage: { type: 'GRADUATED', tiers: [{ upTo: '1000', unitPrice: '0.02' }, { unitPrice: '0.015' }] },
    },
    { meterKey: 'pcc', included: '30', overage: { type: 'PER_UNIT', unitPrice: '0.50' } },
    {
      meterKey: 'mau',
      included: '15',
      overage: { type: 'GRADUATED', tiers: [{ upTo: '10000', unitPrice: '0.05' }, { unitPrice: '0.03' }] },
    },
  ],
  gracePeriodHours: 35 * 24,
});

async function provision(name, tenants) {
  const account = await api('POST', `${REGISTRY}/v1/accounts`, {
    name,
    currency: 'USD',
    timezone: 'UTC',
    billingAnchorDay: anchorDay,
  });
  const tenantIds = [];
  for (let i = 0; i < tenants; i += 1_000) {
    const bulk = await api('POST', `${REGISTRY}/v1/accounts/${account.id}/tenants/bulk`, {
      tenants: Array.from({ length: Math.min(1_000, tenants - i) }, (_, j) => ({ name: `t-${i + j}` })),
    });
    tenantIds.push(...bulk.tenants.map((t) => t.id));
  }
  return { accountId: account.id, tenantIds };
}

/**
 * ROWS rows per tenant and meter at random times within `hours`, and the pooled quantity of each
 * meter as aggregation must answer it (nano-units): COUNT and SUM add up, mau counts distinct
 * subjects (distinct per tenant), pcc is the largest one-minute sum of the tenants' maxima.
 */
function usageOf({ accountId, tenantIds }, hours, random) {
  const rows = [];
  const pooled = Object.fromEntries(METERS.map((m) => [m, 0n]));
  const subjects = new Set();
  const buckets = new Map();
  tenantIds.forEach((tenantId, t) => {
    for (const meter of METERS) {
      for (let k = 0; k < ROWS; k++) {
        const timeMs = hours[Math.floor(random() * hours.length)] + Math.floor(random() * HOUR);
        let value = UNIT;
        let subject = '';
        if (meter === 'voice_minutes' || meter === 'video_minutes') {
          value = BigInt(1 + Math.floor(random() * 600)) * 50_000_000n;
        } else if (meter === 'pcc') {
          value = BigInt(1 + Math.floor(random() * 40)) * UNIT;
          const bucket = buckets.get(Math.floor(timeMs / 60_000)) ?? new Map();
          if (!((bucket.get(tenantId) ?? -1n) >= value)) bucket.set(tenantId, value);
          buckets.set(Math.floor(timeMs / 60_000), bucket);
        } else if (meter === 'mau') {
          subject = `user-${t}-${Math.floor(random() * 4)}`;
          subjects.add(subject);
        }
        if (meter !== 'pcc' && meter !== 'mau') pooled[meter] += value;
        rows.push(
          meterValueRow({
            accountId,
            tenantId,
            meter,
            eventId: `br-${meter}-${k}`,
            timeMs,
            subject,
            valueNano: String(value),
          }),
        );
      }
    }
  });
  pooled.mau = BigInt(subjects.size) * UNIT;
  for (const bucket of buckets.values()) {
    const sum = [...bucket.values()].reduce((a, b) => a + b, 0n);
    if (sum > pooled.pcc) pooled.pcc = sum;
  }
  return { rows, pooled };
}

/** Loads every account's usage, marks its hours stale and waits for the rollups; expected pooled. */
async function loadUsage(accounts, hoursOf, stores) {
  const random = rng(42);
  const expected = new Map();
  const stale = new Map();
  let pending = [];
  let total = 0;
  const t0 = performance.now();
  for (const account of accounts) {
    const { rows, pooled } = usageOf(account, hoursOf(random), random);
    expected.set(account.accountId, pooled);
    for (const r of rows) {
      const hourMs = r.time_ms - (r.time_ms % HOUR);
      stale.set(`${r.account_id} ${hourMs}`, { accountId: r.account_id, hourMs });
    }
    pending = pending.concat(rows);
    total += rows.length;
    for (; pending.length >= 100_000; pending = pending.slice(100_000)) {
      await insertMeterValues(stores.ch, pending.slice(0, 100_000));
    }
  }
  if (pending.length) await insertMeterValues(stores.ch, pending);
  const insertMs = performance.now() - t0;
  await markStale(stores.pg, [...stale.values()]);
  const rollupS = await awaitRollups(
    stores.pg,
    accounts.map((a) => a.accountId),
    (left) => process.stdout.write(`\r  rollups: ${n(left)} account-hours left   `),
  );
  log(
    `\r  ${n(total)} usage rows inserted in ${secs(insertMs)}; rollups of ${n(stale.size)} account-hours in ${rollupS.toFixed(1)} s`,
  );
  return expected;
}

const subscribe = (accountId, planId) =>
  api('PUT', `${BILLING}/v1/accounts/${accountId}/subscription`, {
    planId,
    planVersion: 1,
    startAt: iso(startMs),
    anchorDay,
  });

// ---- the scheduled run's phase

/** When a scheduled run was seen to start (ms), `null` when none came (scheduler off). */
let tickAt;

/** Returns just after a scheduled run started, so the next one is about TICK_MS away. */
async function afterSchedulerTick(sentinel, planId) {
  if (tickAt === undefined) {
    await subscribe(sentinel, planId);
    const deadline = Date.now() + TICK_MS + 30_000;
    for (tickAt = null; Date.now() < deadline; await sleep(200)) {
      const { invoices } = await api('GET', `${BILLING}/v1/accounts/${sentinel}/invoices`);
      if (invoices.length) {
        tickAt = Date.parse(invoices[0].createdAt);
        break;
      }
    }
    log(
      tickAt === null ? '  no scheduled run seen: scheduler off?' : '  scheduled run seen (sentinel drafted)',
    );
  } else if (tickAt !== null) {
    await sleep(tickAt + Math.ceil((Date.now() - tickAt) / TICK_MS) * TICK_MS - Date.now());
  }
  await sleep(1_500);
}

/** Scheduled runs that started within `[fromMs, toMs]` (ms), as offsets from `fromMs`. */
function ticksWithin(fromMs, toMs) {
  if (!tickAt) return '';
  const found = [];
  for (let t = tickAt + Math.ceil((fromMs - tickAt) / TICK_MS) * TICK_MS; t <= toMs; t += TICK_MS) {
    found.push(`+${((t - fromMs) / 1000).toFixed(1)} s`);
  }
  return found.length
    ? `; the scheduler's tick (a run over every account, unless its previous run still goes on) came at ${found.join(', ')}`
    : '';
}

// ---- runs and checks

async function billingRun(accountId) {
  const fromMs = Date.now();
  const { value, ms } = await timed(() =>
    api('POST', `${BILLING}/v1/billing-runs`, { asOf: iso(Date.now()), ...(accountId ? { accountId } : {}) }),
  );
  return { result: value, ms, overlap: ticksWithin(fromMs, Date.now()) };
}

/** The bench's accounts in a run's answer: outcomes, and what else the run covered. */
function outcomes(result, ids) {
  const counts = {};
  let notOnce = 0;
  for (const a of result.accounts.filter((x) => ids.has(x.accountId))) {
    if (a.invoices.length !== 1) notOnce++;
    for (const i of a.invoices) counts[i.outcome] = (counts[i.outcome] ?? 0) + 1;
  }
  const ours = result.accounts.filter((a) => ids.has(a.accountId)).length;
  const failed = result.failed.filter((f) => ids.has(f.accountId));
  const text = Object.entries(counts)
    .map(([k, v]) => `${n(v)} ${k}`)
    .join(', ');
  const problems = [];
  if (ours + failed.length !== ids.size) problems.push(`${ids.size - ours - failed.length} accounts missing`);
  if (notOnce) problems.push(`${notOnce} accounts without exactly one invoice`);
  if (failed.length) problems.push(`${failed.length} failed (${failed[0].error})`);
  const others = result.accounts.length - ours;
  return {
    counts,
    problems,
    text: `${text || 'nothing'}${others ? `; the run also covered ${n(others)} other accounts` : ''}${
      result.failed.length - failed.length ? `, ${result.failed.length - failed.length} of them failed` : ''
    }`,
  };
}

const toNano = (text) => {
  const [whole, fraction = ''] = text.split('.');
  return BigInt(whole) * UNIT + BigInt((fraction + '000000000').slice(0, 9));
};

/** Each account's stored invoice checked against the loaded usage; `{ invoices, problems }`. */
async function checkInvoices(accounts, expected) {
  const problems = [];
  const invoices = await mapLimit(accounts, 16, async ({ accountId }) => {
    const { invoices: list } = await api('GET', `${BILLING}/v1/accounts/${accountId}/invoices`);
    const say = (what) => problems.push(`${accountId}: ${what}`);
    if (list.length !== 1) say(`${list.length} invoices`);
    const [invoice] = list;
    if (!invoice) return undefined;
    if (invoice.periodStart !== iso(startMs)) say(`period ${invoice.periodStart}`);
    const lines = invoice.lines.reduce((s, l) => s + l.amount.minor, 0);
    if (lines !== invoice.total.minor) say(`total ${invoice.total.minor} ≠ lines ${lines}`);
    for (const line of invoice.lines.filter((l) => l.attribution.length)) {
      const parts = line.attribution.reduce((s, a) => s + a.amount.minor, 0);
      if (parts !== line.amount.minor) say(`${line.meterKey}: ${line.amount.minor} ≠ sub-lines ${parts}`);
    }
    for (const meter of METERS) {
      const line = invoice.lines.find((l) => l.kind === 'usage' && l.meterKey === meter);
      const want = expected.get(accountId)[meter];
      if (!line) say(`no ${meter} line`);
      else if (toNano(line.pooled) !== want) say(`${meter} pooled ${line.pooled}, loaded ${want} nano`);
    }
    return {
      id: invoice.id,
      version: invoice.version,
      total: invoice.total,
      subLines: invoice.lines.reduce((s, l) => s + l.attribution.length, 0),
    };
  });
  return { invoices, problems };
}

function sameInvoices(before, after) {
  const changed = after.filter(
    (inv, i) =>
      !inv ||
      inv.id !== before[i]?.id ||
      inv.version !== before[i].version ||
      inv.total.minor !== before[i].total.minor,
  );
  return changed.length ? [`${changed.length} invoices changed by the second run`] : [];
}

const finalize = (invoices) =>
  mapLimit(
    invoices.filter(Boolean),
    8,
    (inv) => api('POST', `${BILLING}/v1/invoices/${inv.id}/finalize`).catch(() => undefined), // already closed
  );

const verdict = (ms, targetS) => `target ≤ ${targetS} s: ${ms <= targetS * 1000 ? 'met' : 'MISSED'}`;

/** Measures one phase: subscribe after a tick, two timed runs, checks; returns the report lines. */
async function phase({ label, accounts, expected, accountId, targetS, statedFor, planId, sentinel }) {
  await afterSchedulerTick(sentinel, planId);
  const subscribed = await timed(() => mapLimit(accounts, 16, (a) => subscribe(a.accountId, planId)));
  log(`  ${n(accounts.length)} subscriptions in ${secs(subscribed.ms)}`);
  const ids = new Set(accounts.map((a) => a.accountId));
  const first = await billingRun(accountId);
  const firstOut = outcomes(first.result, ids);
  log(`  first run ${secs(first.ms)}: ${firstOut.text}${first.overlap}`);
  const checked = await checkInvoices(accounts, expected);
  const second = await billingRun(accountId);
  const secondOut = outcomes(second.result, ids);
  log(`  second run ${secs(second.ms)}: ${secondOut.text}${second.overlap}`);
  const again = await checkInvoices(accounts, expected);
  const problems = [
    ...firstOut.problems,
    ...(firstOut.counts.drafted === ids.size ? [] : ['first run: not every invoice drafted by it']),
    ...checked.problems,
    ...secondOut.problems,
    ...(secondOut.counts.unchanged === ids.size ? [] : ['second run: not every invoice unchanged']),
    ...sameInvoices(checked.invoices, again.invoices),
  ];
  const subLines = checked.invoices.reduce((s, i) => s + (i?.subLines ?? 0), 0);
  const total = checked.invoices.reduce((s, i) => s + (i?.total.minor ?? 0), 0);
  if (!KEEP_DRAFTS) await finalize(checked.invoices);
  const note = (run, out) => `${out.text}${run.overlap}`;
  report({
    name: `${label}: first billing run (drafts)`,
    value: first.ms / 1000,
    unit: 's',
    target: atMost(targetS, statedFor),
    note: note(first, firstOut),
    problems,
  });
  report({
    name: `${label}: second billing run (unchanged)`,
    value: second.ms / 1000,
    unit: 's',
    note: note(second, secondOut),
  });
  return [
    `${label}: first run ${secs(first.ms)} (${verdict(first.ms, targetS)}), second run ${secs(second.ms)} (${verdict(second.ms, targetS)})`,
    `    first: ${firstOut.text}${first.overlap}`,
    `    second: ${secondOut.text}${second.overlap}`,
    `    ${n(checked.invoices.filter(Boolean).length)} invoices, ${n(subLines)} tenant sub-lines, ${(total / 100).toFixed(2)} USD in all: ${
      problems.length
        ? `PROBLEMS: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (+${problems.length - 5})` : ''}`
        : 'each once, totals = lines = sub-lines, pooled = loaded, second run unchanged'
    }`,
  ];
}

async function main() {
  const command = `node tools/bench/billing-runs.mjs ${process.argv.slice(2).join(' ')}`.trim();
  log(
    `billing runs: period ${iso(startMs).slice(0, 10)} → ${iso(endMs).slice(0, 10)} (anchor day ${anchorDay}), ${ROWS} rows per tenant and meter`,
  );
  const planId = `bench_runs_${RUN}`;
  await api('POST', `${BILLING}/v1/plans`, planBody(planId));
  const stores = await aggregationStores(env);
  const report = [];
  const periodHours = [];
  for (let h = startMs; h < endMs; h += HOUR) periodHours.push(h);
  const sentinel = (await provision(`bench-runs-${RUN}-sentinel`, 0)).accountId;

  if (ONLY !== 'b') {
    log(`(a) 1 account × ${n(SINGLE_TENANTS)} tenants`);
    const { value: single, ms: regMs } = await timed(() =>
      provision(`bench-runs-${RUN}-single`, SINGLE_TENANTS),
    );
    log(`  registry: account and ${n(SINGLE_TENANTS)} tenants in ${secs(regMs)}`);
    const expected = await loadUsage([single], () => periodHours, stores);
    report.push(
      ...(await phase({
        label: `(a) 1 account × ${n(SINGLE_TENANTS)} tenants × 5 meters`,
        accounts: [single],
        expected,
        accountId: single.accountId,
        targetS: 10,
        statedFor: sizeUnlike(SINGLE_TENANTS, 10_000, 'tenants'),
        planId,
        sentinel,
      })),
    );
  }
  if (ONLY !== 'a') {
    log(`(b) ${n(ACCOUNTS)} accounts × ${n(TENANTS)} tenants`);
    const { value: accounts, ms: regMs } = await timed(() =>
      mapLimit(
        Array.from({ length: ACCOUNTS }, (_, i) => i),
        8,
        (i) => provision(`bench-runs-${RUN}-${i}`, TENANTS),
      ),
    );
    log(`  registry: ${n(ACCOUNTS)} accounts and ${n(ACCOUNTS * TENANTS)} tenants in ${secs(regMs)}`);
    const spread = (random) => {
      const first = Math.floor(random() * (periodHours.length - SPREAD_HOURS));
      return periodHours.slice(first, first + SPREAD_HOURS);
    };
    const expected = await loadUsage(accounts, spread, stores);
    report.push(
      ...(await phase({
        label: `(b) ${n(ACCOUNTS)} accounts × ${n(TENANTS)} tenants × 5 meters`,
        accounts,
        expected,
        targetS: 60,
        statedFor: ACCOUNTS === 1_000 && TENANTS === 10 ? undefined : '1,000 accounts × 10 tenants',
        planId,
        sentinel,
      })),
    );
  }
  if (!KEEP_DRAFTS) {
    const { invoices } = await api('GET', `${BILLING}/v1/accounts/${sentinel}/invoices`);
    await finalize(invoices);
  }
  await stores.close();
  log(`\n=== billing runs (${command}) ===`);
  for (const line of report) log(line);
  log(
    `    plan ${planId}; bench accounts named bench-runs-${RUN}-*; drafts ${KEEP_DRAFTS ? 'kept' : 'finalized afterwards'}`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
