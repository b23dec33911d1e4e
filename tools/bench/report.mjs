// One benchmark command: every scenario of the service issues, one after another, against the
// running local stack (`bash tools/stack/stack.sh up`, after `npm run build`), with the raw
// ceilings (ClickHouse insert and kafkajs produce from Node, tools/bench/ceilings.mjs) measured
// first in the same run. Writes docs/benchmarks/report.json and report.md: per scenario each
// figure, its target, met or not, the raw ceiling and the ratio figure / ceiling for
// throughputs; the machine, the date, the git commit and this command. A scenario that fails is
// reported with its error and the others still run (exit code 1 then).
// Usage: node tools/bench/report.mjs (or npm run bench --)
//          [--quick]                              small sizes: a few minutes
//          [--only a,b] [--skip a,b]              scenarios by name (see SCENARIOS)
//          [--set <scenario>.<option>=<value>]…   a size of one scenario (`=true`/`=false` for a flag)
//          [--timeout-min N]                      per scenario (default 15 quick, 120 full)
//          [--out DIR]                            default docs/benchmarks
//          [--dry-run]                            print the commands and sizes, run nothing
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { readStackEnv, root } from '../stack/stack-env.mjs';
import { arg, clickHouseOf, flag, option } from './bench-kit.mjs';
import { ceilingsOf, formatDuration, judge, renderMarkdown, runScenario, tally } from './report-kit.mjs';

const require = createRequire(import.meta.url);

/**
 * The scenarios in the order they run, each a script of tools/bench with its options at full size
 * (the sizes the issues state their targets for) and in quick mode. Ingestion and aggregation skip
 * their own raw measurements: the ceilings scenario measures them for the whole run.
 */
const SCENARIOS = [
  {
    name: 'ceilings',
    title: 'Raw ceilings: ClickHouse insert and kafkajs produce from Node',
    full: { rows: 300_000, seconds: 15 },
    quick: { rows: 50_000, seconds: 4 },
  },
  {
    name: 'registry',
    issue: 3,
    title: 'Tenant registry: bulk creation and cached key verification',
    full: { tenants: 1_000, calls: 20_000 },
    quick: { tenants: 200, calls: 3_000 },
  },
  {
    name: 'ingestion',
    issue: 4,
    title: 'Ingestion: accepted events/s, latency per request, memory',
    full: { tenants: 8, concurrency: 16, seconds: 15, batches: '100,500', paced: 10_000, 'no-raw': true },
    quick: { tenants: 8, concurrency: 16, seconds: 4, batches: '100,500', paced: 10_000, 'no-raw': true },
  },
  {
    name: 'aggregation',
    issue: 5,
    title: 'Aggregation: sink throughput and event-to-queryable latency',
    full: { events: 300_000, rate: 20_000, seconds: 10, 'no-raw': true },
    quick: { events: 40_000, rate: 20_000, seconds: 3, 'no-raw': true },
  },
  {
    name: 'pooled-usage',
    issue: 5,
    title: 'Aggregation: pooled-usage queries and entitlement checks',
    full: { events: 10_000_000, tenants: 1_000, queries: 40, rate: 2_000, seconds: 10 },
    quick: { events: 200_000, tenants: 200, queries: 10, rate: 2_000, seconds: 3 },
  },
  {
    name: 'billing',
    issue: 6,
    title: 'Billing: one account billed from usage sent through ingestion',
    full: { tenants: 300, events: 20 },
    quick: { tenants: 30, events: 5 },
  },
  {
    name: 'billing-runs',
    issue: 6,
    title: 'Billing runs: one account of many tenants, many accounts of few',
    full: { 'single-tenants': 10_000, accounts: 1_000, tenants: 10, rows: 3 },
    quick: { 'single-tenants': 500, accounts: 20, tenants: 10, rows: 3 },
  },
  {
    name: 'audit',
    issue: 7,
    title: 'Audit: chained appends and chain verification',
    full: { events: 100_000, verify: 1_000_000 },
    quick: { events: 10_000, verify: 20_000 },
  },
];

const SERVICES = { 'tenant-registry': 3001, ingestion: 3002, aggregation: 3003, billing: 3004, audit: 3005 };

const QUICK = flag('quick');
const MODE = QUICK ? 'quick' : 'full';
const OUT = path.resolve(root, option('out', 'docs/benchmarks'));
const TIMEOUT_MS = arg('timeout-min', QUICK ? 15 : 120) * 60_000;
const argList = (name) => option(name, '').split(',').filter(Boolean);

/** Every `--set scenario.option=value` on the command line. */
function overrides() {
  const found = [];
  process.argv.forEach((a, i) => {
    if (a !== '--set') return;
    const m = /^([\w-]+)\.([\w-]+)=(.*)$/.exec(process.argv[i + 1] ?? '');
    if (!m || !SCENARIOS.some((s) => s.name === m[1])) {
      throw new Error(
        `--set wants <scenario>.<option>=<value> with a scenario of ${SCENARIOS.map((s) => s.name).join(', ')}`,
      );
    }
    found.push({ scenario: m[1], option: m[2], value: m[3] });
  });
  return found;
}

/** The scenarios to run with their options resolved, and the command line of each. */
function plan() {
  const only = argList('only');
  const skip = argList('skip');
  for (const name of [...only, ...skip]) {
    if (!SCENARIOS.some((s) => s.name === name)) throw new Error(`no scenario ${name}`);
  }
  const chosen = SCENARIOS.filter((s) => (!only.length || only.includes(s.name)) && !skip.includes(s.name));
  const options = Object.fromEntries(chosen.map((s) => [s.name, { ...s[MODE] }]));
  const set = overrides();
  for (const o of set) {
    if (!options[o.scenario]) continue;
    if (o.value === 'false') delete options[o.scenario][o.option];
    else options[o.scenario][o.option] = o.value === 'true' ? true : o.value;
  }
  const explicit = (scenario, name) => set.some((o) => o.scenario === scenario && o.option === name);
  // The Kafka ceilings have the shape of ingestion's work: its batch sizes and concurrency.
  if (options.ceilings && options.ingestion) {
    for (const [mine, theirs] of [
      ['packs', 'batches'],
      ['concurrency', 'concurrency'],
    ]) {
      if (!explicit('ceilings', mine)) options.ceilings[mine] = options.ingestion[theirs];
    }
  }
  // Without the ceilings scenario, ingestion and aggregation measure theirs themselves.
  if (!options.ceilings) {
    for (const name of ['ingestion', 'aggregation']) {
      if (options[name] && !explicit(name, 'no-raw')) delete options[name]['no-raw'];
    }
  }
  return chosen.map((s) => {
    const args = Object.entries(options[s.name]).flatMap(([k, v]) =>
      v === true ? [`--${k}`] : [`--${k}`, String(v)],
    );
    const script = `tools/bench/${s.name}.mjs`;
    return { ...s, script, args, options: options[s.name], command: ['node', script, ...args].join(' ') };
  });
}

/** This command as typed: through `npm run bench` or node. */
function commandLine() {
  const args = process.argv.slice(2).join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args ? ` -- ${args}` : ''}`;
  return `node tools/bench/report.mjs${args ? ` ${args}` : ''}`;
}

const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();

function gitState() {
  try {
    return {
      commit: git('rev-parse', 'HEAD'),
      uncommittedFiles: git('status', '--porcelain').split('\n').filter(Boolean).length,
    };
  } catch (err) {
    return { commit: `unknown (${err.message.split('\n')[0]})`, uncommittedFiles: 0 };
  }
}

/** A version asked of a running store, or what went wrong asking. */
async function versionOf(ask) {
  try {
    return await ask();
  } catch (err) {
    return `unknown (${err.message})`;
  }
}

/** The local stack's mock cluster's bootstrap list (tools/kafka-mock), when it runs one. */
function mockBootstrap() {
  try {
    const state = readFileSync(
      path.join(process.env.STACK_DIR ?? path.join(root, '.stack'), 'kafka-mock.state'),
      'utf8',
    );
    return /^bootstrap=(.*)$/m.exec(state)?.[1];
  } catch {
    return undefined;
  }
}

function brokerOf(env) {
  const brokers = env.KAFKA_BROKERS.split(',').length;
  if (env.KAFKA_BROKERS !== mockBootstrap())
    return `Kafka at ${env.KAFKA_BROKERS} (${brokers} bootstrap brokers)`;
  let lib = '';
  try {
    lib = `, librdkafka ${execFileSync('dpkg-query', ['-W', '-f=${Version}', 'librdkafka1'], { encoding: 'utf8' })}`;
  } catch {
    // not a Debian package here
  }
  return `librdkafka mock cluster, ${brokers} brokers (tools/kafka-mock${lib})`;
}

const load1 = () => os.loadavg()[0].toFixed(2);

async function machine(env) {
  const cpus = os.cpus();
  const clickhouse = await versionOf(async () => {
    const ch = clickHouseOf(env);
    try {
      const [row] = await (await ch.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' })).json();
      return row.v;
    } finally {
      await ch.close();
    }
  });
  const postgres = await versionOf(async () => {
    const { Client } = require('pg');
    const pg = new Client({ connectionString: `${env.POSTGRES_URL}/postgres` });
    await pg.connect();
    try {
      return (await pg.query('SHOW server_version')).rows[0].server_version;
    } finally {
      await pg.end();
    }
  });
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    clickhouse,
    postgres,
    broker: brokerOf(env),
  };
}

/** JSON laid out as the repository's Prettier check wants it (as is where Prettier is missing). */
async function formatted(file, json) {
  try {
    const prettier = await import('prettier');
    return await prettier.format(json, { ...(await prettier.resolveConfig(file)), filepath: file });
  } catch {
    return `${json}\n`;
  }
}

/** The services of the stack that do not answer /health. */
async function servicesDown() {
  const down = [];
  for (const [name, port] of Object.entries(SERVICES)) {
    const ok = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (!ok) down.push(name);
  }
  return down;
}

async function main() {
  const scenarios = plan();
  if (flag('dry-run')) {
    for (const s of scenarios) console.log(s.command);
    return;
  }
  const env = readStackEnv();
  const down = await servicesDown();
  if (down.length) {
    console.error(`not answering /health: ${down.join(', ')}; start the stack: bash tools/stack/stack.sh up`);
    process.exit(2);
  }
  const command = commandLine();
  const date = new Date().toISOString();
  const loadAtStart = load1();
  const aborter = new AbortController();
  process.once('SIGINT', () => aborter.abort());
  process.once('SIGTERM', () => aborter.abort());
  console.log(`${command}: ${scenarios.length} scenarios in ${MODE} mode`);
  const started = performance.now();
  const results = [];
  for (const s of scenarios) {
    if (aborter.signal.aborted) break;
    console.log(`\n=== ${s.name}: ${s.command}`);
    const prefix = `[${s.name}] `;
    // A progress line rewritten with \r shows as its last state.
    const last = (line) => line.split('\r').filter(Boolean).pop() ?? '';
    const result = await runScenario({
      script: s.script,
      args: s.args,
      cwd: root,
      timeoutMs: TIMEOUT_MS,
      signal: aborter.signal,
      echo: (line) => console.log(prefix + last(line)),
      echoError: (line) => console.error(prefix + last(line)),
    });
    console.log(`=== ${s.name}: ${result.status} in ${formatDuration(result.seconds)}`);
    results.push({ ...s, ...result });
  }
  if (aborter.signal.aborted) {
    console.error('interrupted: no report written');
    process.exit(130);
  }
  const ceilings = ceilingsOf(results);
  const report = {
    mode: MODE,
    date,
    command,
    git: gitState(),
    machine: { ...(await machine(env)), loadAverage: { start: loadAtStart, end: load1() } },
    seconds: Math.round((performance.now() - started) / 100) / 10,
    ceilings: [...ceilings.values()],
    scenarios: results.map((r) => ({
      name: r.name,
      title: r.title,
      issue: r.issue ?? null,
      command: r.command,
      options: r.options,
      status: r.status,
      ...(r.error ? { error: r.error } : {}),
      seconds: Math.round(r.seconds * 10) / 10,
      figures: r.figures.map((f) => judge(f, ceilings)),
    })),
  };
  mkdirSync(OUT, { recursive: true });
  const jsonFile = path.join(OUT, 'report.json');
  writeFileSync(jsonFile, await formatted(jsonFile, JSON.stringify(report, null, 2)));
  writeFileSync(path.join(OUT, 'report.md'), renderMarkdown(report));
  console.log(
    `\nreport (${MODE} mode, ${formatDuration(report.seconds)}): ${path.relative(root, OUT)}/report.md, report.json`,
  );
  for (const s of report.scenarios) {
    const t = tally(s.figures);
    console.log(`  ${s.name.padEnd(13)} ${s.status.padEnd(9)} targets met ${t.met}/${t.targets}`);
  }
  if (report.scenarios.some((s) => s.status !== 'completed')) process.exit(1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
