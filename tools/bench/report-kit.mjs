// The parts of tools/bench/report.mjs that do not depend on the stack: running one benchmark
// script and collecting the figures it reports (bench-kit's `reporter`), judging them against
// their targets and the raw ceilings, and rendering the report as Markdown.
import { spawn } from 'node:child_process';
import { RESULT_PREFIX } from './bench-kit.mjs';

/** Calls `onLine` with each line of a text stream (a last line without newline included). */
function eachLine(stream, onLine) {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    pending += chunk;
    for (let i = pending.indexOf('\n'); i >= 0; i = pending.indexOf('\n')) {
      onLine(pending.slice(0, i));
      pending = pending.slice(i + 1);
    }
  });
  stream.on('end', () => pending && onLine(pending));
}

/** Signals the process group of a child started `detached` (its own group); gone already is fine. */
function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group has exited
  }
}

const TAIL_LINES = 20;

/**
 * Runs `node <script> <args…>` in its own process group (so a timeout or an abort ends whatever it
 * started too), echoing its output and collecting the figures it reports. Never rejects: a
 * non-zero exit, a timeout, an abort or no figure at all makes the result `failed` with an error
 * (the end of its stderr), and the figures reported before that are kept.
 * Returns `{ status, error?, figures, seconds }`.
 */
export async function runScenario({
  script,
  args = [],
  cwd,
  timeoutMs,
  signal,
  echo = console.log,
  echoError = console.error,
}) {
  const started = performance.now();
  const figures = [];
  const tail = [];
  const child = spawn(process.execPath, [script, ...args], {
    cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  eachLine(child.stdout, (line) => {
    if (!line.startsWith(RESULT_PREFIX)) return echo(line);
    try {
      figures.push(JSON.parse(line.slice(RESULT_PREFIX.length)));
    } catch {
      tail.push(`unreadable result line: ${line}`);
    }
  });
  eachLine(child.stderr, (line) => {
    echoError(line);
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  });
  let ended;
  const stop = (why) => {
    ended ??= why;
    signalGroup(child, 'SIGTERM');
    setTimeout(() => signalGroup(child, 'SIGKILL'), 10_000).unref();
  };
  const timer = setTimeout(() => stop(`timed out after ${Math.round(timeoutMs / 60_000)} min`), timeoutMs);
  const onAbort = () => stop('interrupted');
  signal?.addEventListener('abort', onAbort);
  const exit = await new Promise((resolve) => {
    child.once('error', (err) => resolve({ spawnError: err }));
    child.once('close', (code, sig) => resolve({ code, sig }));
  });
  clearTimeout(timer);
  signal?.removeEventListener('abort', onAbort);
  const seconds = (performance.now() - started) / 1000;
  const why =
    ended ??
    (exit.spawnError
      ? `could not start: ${exit.spawnError.message}`
      : exit.code !== 0
        ? `exited with ${exit.code ?? exit.sig}`
        : figures.length === 0
          ? 'reported no figure'
          : undefined);
  if (!why) return { status: 'completed', figures, seconds };
  const error = [why, ...tail].join('\n').trim();
  return { status: 'failed', error, figures, seconds };
}

// ---- judging

/** Whether `value` reaches `target` (`{ op: '<=' | '>=', value }`). */
export const meets = (value, target) => (target.op === '<=' ? value <= target.value : value >= target.value);

const rounded = (v) => Math.round(v * 1000) / 1000;

/** The raw ceilings measured in a run, by id: the first figure reported as each. */
export function ceilingsOf(scenarios) {
  const found = new Map();
  for (const s of scenarios) {
    for (const f of s.figures) {
      if (f.ceilingId && !found.has(f.ceilingId)) {
        found.set(f.ceilingId, {
          id: f.ceilingId,
          name: f.name,
          value: rounded(f.value),
          unit: f.unit,
          note: f.note,
        });
      }
    }
  }
  return found;
}

/**
 * One reported figure as the report keeps it: `met` (the target reached and no failed check;
 * null without a target) and, for a figure compared with a raw ceiling measured in the run, that
 * ceiling and the ratio figure / ceiling.
 */
export function judge(figure, ceilings) {
  const { scenario: _scenario, options: _options, ceiling: ceilingId, ...rest } = figure;
  const ceiling = ceilingId ? ceilings.get(ceilingId) : undefined;
  return {
    ...rest,
    value: rounded(figure.value),
    met: figure.target ? meets(figure.value, figure.target) && !figure.problems?.length : null,
    ...(ceilingId
      ? {
          ceiling: ceiling
            ? { id: ceilingId, value: rounded(ceiling.value), unit: ceiling.unit }
            : { id: ceilingId },
        }
      : {}),
    ...(ceiling ? { ratio: Math.round((figure.value / ceiling.value) * 1000) / 1000 } : {}),
  };
}

/** How many of a scenario's figures have a target, are met, and are stated for another size. */
export function tally(figures) {
  const targeted = figures.filter((f) => f.target);
  return {
    targets: targeted.length,
    met: targeted.filter((f) => f.met).length,
    otherSize: targeted.filter((f) => f.target.statedFor).length,
  };
}

// ---- Markdown

const grouped = (v) => Math.round(v).toLocaleString('en');

/** A figure's value with its unit: durations with a few significant digits, rates as integers. */
export function formatValue(value, unit) {
  if (unit === 'ms' || unit === 's') {
    const abs = Math.abs(value);
    const digits = abs < 1 ? 3 : abs < 10 ? 2 : abs < 100 ? 1 : 0;
    return `${value.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits })} ${unit}`;
  }
  return `${grouped(value)} ${unit}`;
}

const number = (v) => (Number.isInteger(v) ? v.toLocaleString('en') : String(v));

export function formatTarget(target, unit) {
  if (!target) return '–';
  const stated = target.statedFor ? ` (stated for ${target.statedFor})` : '';
  return `${target.op === '<=' ? '≤' : '≥'} ${number(target.value)} ${unit}${stated}`;
}

function formatMet(figure) {
  if (figure.met === null) return '–';
  const star = figure.target.statedFor ? '*' : '';
  return figure.met ? `met${star}` : `**not met**${star}`;
}

const cell = (text) =>
  String(text ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ');

function table(header, rows) {
  const line = (cells) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

export function formatDuration(seconds) {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  const m = Math.floor(whole / 60);
  return m < 60 ? `${m} min ${whole % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** A ratio to two significant digits at least (0.42, 0.047). */
export const formatRatio = (r) => (r < 0.1 ? r.toFixed(3) : r.toFixed(2));

function notes(figure) {
  const problems = figure.problems?.length ? `checks failed: ${figure.problems.join('; ')}` : '';
  return [figure.note, problems].filter(Boolean).join('; ');
}

function figureTable(figures, ceilings) {
  return table(
    ['figure', 'value', 'target', 'met', 'raw ceiling (same run)', 'ratio', 'notes'],
    figures.map((f) => {
      const ceiling = f.ceiling && ceilings.get(f.ceiling.id);
      return [
        f.name,
        formatValue(f.value, f.unit),
        formatTarget(f.target, f.unit),
        formatMet(f),
        ceiling
          ? `${formatValue(ceiling.value, ceiling.unit)} (${ceiling.name})`
          : f.ceiling
            ? 'not measured'
            : '',
        f.ratio === undefined ? '' : formatRatio(f.ratio),
        notes(f),
      ];
    }),
  );
}

const MODE_TEXT = {
  quick:
    '**Quick mode**: small sizes and short runs, to check that every benchmark runs end to end in a ' +
    'few minutes. No figure here is a verdict on its target (those marked * ran at another size than ' +
    'the target is stated for); the full report comes from `npm run bench` on a quiet machine.',
  full:
    'Full mode: the sizes the service issues state their targets for, unless the command overrides ' +
    'them (figures marked *).',
};

/** The report (as written to report.json) as Markdown. */
export function renderMarkdown(report) {
  const ceilings = new Map(report.ceilings.map((c) => [c.id, c]));
  const m = report.machine;
  const out = [
    `# Benchmark report (${report.mode} mode)`,
    '',
    `> ${MODE_TEXT[report.mode]}`,
    '',
    table(
      ['', ''],
      [
        ['mode', report.mode],
        ['date', `${report.date.slice(0, 16).replace('T', ' ')} UTC`],
        ['command', `\`${report.command}\``],
        [
          'git commit',
          `\`${report.git.commit}\`${report.git.uncommittedFiles ? ` with uncommitted changes in ${report.git.uncommittedFiles} files` : ''}`,
        ],
        ['CPU', `${m.cpuModel} × ${m.cpus}`],
        ['memory', `${m.memoryGiB} GiB`],
        ['OS', m.os],
        ['load average (1 min)', `${m.loadAverage.start} at the start, ${m.loadAverage.end} at the end`],
        ['Node', m.node],
        ['ClickHouse', m.clickhouse],
        ['Postgres', m.postgres],
        ['broker', m.broker],
        ['duration', formatDuration(report.seconds)],
      ],
    ),
    '',
    '## Summary',
    '',
    table(
      ['scenario', 'issue', 'status', 'targets met', 'duration'],
      report.scenarios.map((s) => {
        const t = tally(s.figures);
        const met = t.targets
          ? `${t.met} of ${t.targets}${t.otherSize ? ` (${t.otherSize} at another size*)` : ''}`
          : '–';
        return [
          s.title,
          s.issue ? `#${s.issue}` : '–',
          s.status === 'completed' ? s.status : `**${s.status}**`,
          met,
          formatDuration(s.seconds),
        ];
      }),
    ),
    '',
    '## Raw ceilings',
    '',
    'What Node alone gets from the same ClickHouse and Kafka in the same run, with no platform code between; ' +
      'throughput figures below are divided by the ceiling that does the same work (ratio).',
    '',
    report.ceilings.length
      ? table(
          ['ceiling', 'value', 'how'],
          report.ceilings.map((c) => [c.name, formatValue(c.value, c.unit), c.note]),
        )
      : 'None measured in this run.',
  ];
  for (const s of report.scenarios) {
    out.push('', `## ${s.title}`, '', `\`${s.command}\` — ${s.status}, ${formatDuration(s.seconds)}`);
    if (s.status !== 'completed') out.push('', '```', s.error, '```');
    // The ceilings are listed above.
    const figures = s.figures.filter((f) => !f.ceilingId);
    if (figures.length) out.push('', figureTable(figures, ceilings));
  }
  out.push(
    '',
    '---',
    '',
    "\\* this run's size differs from the size the target is stated for (shown beside the target): the figure is not a verdict on the target.",
    '',
  );
  return out.join('\n');
}
