// Unit tests of the report's parts that need no stack: `node --test tools/bench/report-kit.test.mjs`.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { atLeast, atMost } from './bench-kit.mjs';
import {
  ceilingsOf,
  formatDuration,
  formatValue,
  judge,
  renderMarkdown,
  runScenario,
  tally,
} from './report-kit.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const kit = pathToFileURL(path.resolve(import.meta.dirname, 'bench-kit.mjs')).href;

/** A benchmark script in the scratch folder, reporting through bench-kit as the real ones do. */
function script(name, body) {
  const file = path.join(dir, `${name}.mjs`);
  writeFileSync(
    file,
    `import { reporter, atMost } from '${kit}';\nconst report = reporter('${name}', { size: 3 });\n${body}\n`,
  );
  return file;
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const quiet = { echo: () => {}, echoError: () => {} };

describe('runScenario', () => {
  it('collects the figures a script reports and echoes only its other output', async () => {
    const echoed = [];
    const result = await runScenario({
      script: script(
        'ok',
        `console.log('human line');
         report({ name: 'p99', value: 1.5, unit: 'ms', target: atMost(2) });
         report({ name: 'rate', value: 900, unit: 'events/s', ceiling: 'kafka-produce' });`,
      ),
      timeoutMs: 10_000,
      echo: (line) => echoed.push(line),
      echoError: () => {},
    });
    assert.equal(result.status, 'completed');
    assert.deepEqual(echoed, ['human line']);
    assert.deepEqual(
      result.figures.map((f) => [f.scenario, f.name, f.value, f.options.size]),
      [
        ['ok', 'p99', 1.5, 3],
        ['ok', 'rate', 900, 3],
      ],
    );
    assert.deepEqual(result.figures[0].target, { op: '<=', value: 2 });
  });

  it('reports a failing script as failed with its error, keeping the figures reported before', async () => {
    const result = await runScenario({
      script: script(
        'fails',
        `report({ name: 'first', value: 3, unit: 's' });
         throw new Error('ClickHouse went away');`,
      ),
      timeoutMs: 10_000,
      ...quiet,
    });
    assert.equal(result.status, 'failed');
    assert.match(result.error, /^exited with 1/);
    assert.match(result.error, /ClickHouse went away/);
    assert.deepEqual(
      result.figures.map((f) => f.name),
      ['first'],
    );
  });

  it('fails a script that exits cleanly without reporting a figure', async () => {
    const result = await runScenario({
      script: script('silent', `console.log('nothing');`),
      timeoutMs: 10_000,
      ...quiet,
    });
    assert.equal(result.status, 'failed');
    assert.match(result.error, /reported no figure/);
  });

  it('ends a script that runs past its timeout, with what it started', async () => {
    const pids = [];
    const result = await runScenario({
      script: script(
        'hangs',
        `import { spawn } from 'node:child_process';
         const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
         console.log('child ' + child.pid);
         setInterval(() => {}, 1000);`,
      ),
      timeoutMs: 1_000,
      echo: (line) => pids.push(Number(line.split(' ')[1])),
      echoError: () => {},
    });
    assert.equal(result.status, 'failed');
    assert.match(result.error, /timed out/);
    assert.equal(pids.length, 1);
    for (let i = 0; i < 50 && alive(pids[0]); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(alive(pids[0]), false);
  });

  it('stops the script when the run is interrupted', async () => {
    const aborter = new AbortController();
    setTimeout(() => aborter.abort(), 300);
    const result = await runScenario({
      script: script('interrupted', 'setInterval(() => {}, 1000);'),
      timeoutMs: 60_000,
      signal: aborter.signal,
      ...quiet,
    });
    assert.equal(result.status, 'failed');
    assert.match(result.error, /^interrupted/);
  });
});

describe('judge', () => {
  const ceilings = ceilingsOf([
    {
      figures: [
        { name: 'raw kafkajs', value: 200_000, unit: 'events/s', ceilingId: 'kafka-produce-packed-100' },
        { name: 'later measurement', value: 1, unit: 'events/s', ceilingId: 'kafka-produce-packed-100' },
      ],
    },
  ]);

  it('meets an at-most target at or below it and an at-least target at or above it', () => {
    assert.equal(judge({ name: 'a', value: 2, unit: 'ms', target: atMost(2) }, ceilings).met, true);
    assert.equal(judge({ name: 'a', value: 2.01, unit: 'ms', target: atMost(2) }, ceilings).met, false);
    assert.equal(
      judge({ name: 'b', value: 50_000, unit: 'events/s', target: atLeast(50_000) }, ceilings).met,
      true,
    );
    assert.equal(
      judge({ name: 'b', value: 49_999, unit: 'events/s', target: atLeast(50_000) }, ceilings).met,
      false,
    );
  });

  it('does not count a figure whose checks failed as met', () => {
    const f = judge(
      { name: 'run', value: 1, unit: 's', target: atMost(10), problems: ['2 invoices'] },
      ceilings,
    );
    assert.equal(f.met, false);
  });

  it('leaves a figure without a target unjudged', () => {
    assert.equal(judge({ name: 'p50', value: 1, unit: 'ms' }, ceilings).met, null);
  });

  it('divides a throughput by the first ceiling measured with its id', () => {
    const f = judge(
      {
        name: 'accepted',
        value: 50_000,
        unit: 'events/s',
        target: atLeast(50_000),
        ceiling: 'kafka-produce-packed-100',
      },
      ceilings,
    );
    assert.equal(f.ratio, 0.25);
    assert.deepEqual(f.ceiling, { id: 'kafka-produce-packed-100', value: 200_000, unit: 'events/s' });
  });

  it('names a ceiling that was not measured and gives no ratio', () => {
    const f = judge({ name: 'sink', value: 9, unit: 'events/s', ceiling: 'clickhouse-insert' }, ceilings);
    assert.deepEqual(f.ceiling, { id: 'clickhouse-insert' });
    assert.equal(f.ratio, undefined);
  });

  it('counts targets, met ones and those stated for another size', () => {
    const figures = [
      { name: 'a', value: 1, unit: 's', target: atMost(10, '1,000 tenants') },
      { name: 'b', value: 3, unit: 'ms', target: atMost(2) },
      { name: 'c', value: 3, unit: 'ms' },
    ].map((f) => judge(f, ceilings));
    assert.deepEqual(tally(figures), { targets: 2, met: 1, otherSize: 1 });
  });
});

describe('renderMarkdown', () => {
  const ceilings = ceilingsOf([
    {
      figures: [
        {
          name: 'raw ClickHouse insert from Node',
          value: 400_000,
          unit: 'rows/s',
          ceilingId: 'clickhouse-insert',
          note: 'scratch table',
        },
      ],
    },
  ]);
  const report = {
    mode: 'quick',
    date: '2025-01-01T00:00:00.000Z',
    command: 'npm run bench -- --quick',
    git: { commit: 'abc123', uncommittedFiles: 2 },
    machine: {
      cpuModel: 'Some CPU',
      cpus: 2,
      memoryGiB: 8,
      os: 'Linux',
      node: 'v20',
      clickhouse: '18.16.1',
      postgres: '15.1',
      broker: 'librdkafka mock cluster, 3 brokers',
      loadAverage: { start: '1.00', end: '2.00' },
    },
    seconds: 200,
    ceilings: [...ceilings.values()],
    scenarios: [
      {
        name: 'aggregation',
        title: 'Aggregation sink',
        issue: 5,
        command: 'node tools/bench/aggregation.mjs --events 40000',
        status: 'completed',
        seconds: 30,
        figures: [
          {
            name: 'sink',
            value: 100_000,
            unit: 'events/s',
            target: atLeast(100_000),
            ceiling: 'clickhouse-insert',
          },
          { name: 'p99 | latency', value: 2500, unit: 'ms', target: atMost(2_000, '20,000 events/s') },
        ].map((f) => judge(f, ceilings)),
      },
      {
        name: 'audit',
        title: 'Audit',
        issue: 7,
        command: 'node tools/bench/audit.mjs',
        status: 'failed',
        error: 'exited with 1\nverify failed',
        seconds: 5,
        figures: [],
      },
    ],
  };
  const md = renderMarkdown(report);

  it('says the mode in the title and what quick mode means', () => {
    assert.match(md, /^# Benchmark report \(quick mode\)/);
    assert.match(md, /\*\*Quick mode\*\*/);
  });

  it('states the command, commit and machine', () => {
    assert.match(md, /\| command \| `npm run bench -- --quick` \|/);
    assert.match(md, /`abc123` with uncommitted changes in 2 files/);
    assert.match(md, /\| CPU \| Some CPU × 2 \|/);
    assert.match(md, /\| ClickHouse \| 18\.16\.1 \|/);
    assert.match(md, /\| broker \| librdkafka mock cluster, 3 brokers \|/);
  });

  it('gives each figure its target, verdict, ceiling and ratio', () => {
    assert.match(
      md,
      /\| sink \| 100,000 events\/s \| ≥ 100,000 events\/s \| met \| 400,000 rows\/s \(raw ClickHouse insert from Node\) \| 0\.25 \|/,
    );
    assert.match(
      md,
      /\| p99 \\\| latency \| 2,500 ms \| ≤ 2,000 ms \(stated for 20,000 events\/s\) \| \*\*not met\*\*\* \|/,
    );
  });

  it('reports a failed scenario with its error', () => {
    assert.match(md, /\| Audit \| #7 \| \*\*failed\*\* \|/);
    assert.match(md, /```\nexited with 1\nverify failed\n```/);
  });
});

describe('formats', () => {
  it('rounds a duration to whole seconds before splitting it into minutes', () => {
    assert.equal(formatDuration(12.34), '12.3 s');
    assert.equal(formatDuration(179.7), '3 min 0 s');
    assert.equal(formatDuration(3_725), '1 h 2 min');
  });

  it('gives durations a few significant digits and rates whole numbers', () => {
    assert.equal(formatValue(0.2271, 'ms'), '0.227 ms');
    assert.equal(formatValue(2.119, 'ms'), '2.12 ms');
    assert.equal(formatValue(167.58, 'ms'), '168 ms');
    assert.equal(formatValue(22_612.4, 'events/s'), '22,612 events/s');
  });
});
