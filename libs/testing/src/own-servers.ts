import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { cleanUpAtFileEnd, endProcess, freePort, logTail, workspaceRoot } from './services';

/**
 * A database server of one test's own, in a temporary directory on free ports: the test may crash
 * it, stop it and start it again (same data, same port) without disturbing the stack's servers,
 * which every other test shares.
 */
export interface OwnServer {
  /** `http://127.0.0.1:<port>` (ClickHouse) or `postgres://postgres@127.0.0.1:<port>` (Postgres). */
  readonly url: string;
  /** Ends it as a crash would, without a shutdown of its own; resolves once it is gone. */
  crash(): Promise<void>;
  /** Ends it cleanly; resolves once it is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same data directory and port; resolves once it answers. */
  start(): Promise<void>;
  /** Ends it if it runs and deletes its directory: call it in the test file's `afterAll`. */
  remove(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;
/** How long a clean stop may take before the process is killed. */
const STOP_TIMEOUT_MS = 30_000;

/**
 * Gives a server started in `dir` its `remove`, also run when the test file ends without it, and
 * starts it: when it does not come up, it is removed at once.
 */
async function ownServer(
  dir: string,
  server: Omit<OwnServer, 'remove'> & { end: () => Promise<void> },
): Promise<OwnServer> {
  const remove = async () => {
    forget();
    await server.end();
    rmSync(dir, { recursive: true, force: true });
  };
  const forget = cleanUpAtFileEnd(remove);
  try {
    await server.start();
  } catch (err) {
    await remove();
    throw err;
  }
  const { url, crash, stop, start } = server;
  return { url, crash, stop, start, remove };
}

// ------------------------------------------------------------------------------ ClickHouse

/**
 * A `clickhouse-server` process of the test's own, configured like the stack's
 * (tools/stack/clickhouse-config.xml.in and clickhouse-users.xml) on other ports. `crash` is a
 * SIGKILL, `stop` a SIGTERM.
 */
export async function ownClickHouseServer(): Promise<OwnServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'metering-clickhouse-'));
  for (const sub of ['data', 'tmp', 'user_files', 'format_schemas', 'logs']) mkdirSync(path.join(dir, sub));
  const httpPort = await freePort();
  let tcpPort = await freePort();
  while (tcpPort === httpPort) tcpPort = await freePort();
  const stackFile = (name: string) => path.join(workspaceRoot, 'tools/stack', name);
  const config = path.join(dir, 'config.xml');
  writeFileSync(
    config,
    readFileSync(stackFile('clickhouse-config.xml.in'), 'utf8')
      .replace(/@DIR@/g, dir)
      .replace(/@HTTP_PORT@/g, String(httpPort))
      .replace(/@TCP_PORT@/g, String(tcpPort)),
  );
  copyFileSync(stackFile('clickhouse-users.xml'), path.join(dir, 'users.xml'));
  const url = `http://127.0.0.1:${httpPort}`;
  const errorLog = path.join(dir, 'logs', 'clickhouse-server.err.log');

  let child: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const end = async (signal: NodeJS.Signals) => {
    if (child) await endProcess(child, exited, signal, STOP_TIMEOUT_MS);
  };
  const answers = () =>
    fetch(`${url}/ping`).then(
      (res) => res.ok,
      () => false,
    );

  return ownServer(dir, {
    url,
    async start() {
      if (alive()) throw new Error(`ClickHouse on ${url} is already running`);
      const out = openSync(path.join(dir, 'logs', 'stdout.log'), 'a');
      const started = spawn('clickhouse-server', [`--config-file=${config}`], {
        cwd: dir,
        stdio: ['ignore', out, out],
      });
      closeSync(out);
      child = started;
      exited = new Promise((resolve) => started.once('exit', resolve));
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (!(await answers())) {
        if (!alive() || Date.now() > deadline) {
          await end('SIGKILL');
          throw new Error(`ClickHouse did not start on ${url}; ${errorLog}:\n${logTail(errorLog)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    crash: () => end('SIGKILL'),
    stop: () => end('SIGTERM'),
    end: () => end('SIGKILL'),
  });
}

// -------------------------------------------------------------------------------- Postgres

const POSTGRES_LIB = '/usr/lib/postgresql';

/** A program of the newest PostgreSQL installed the Debian way (`/usr/lib/postgresql/<n>/bin`). */
function postgresProgram(name: string): string {
  const versions = existsSync(POSTGRES_LIB)
    ? readdirSync(POSTGRES_LIB)
        .filter((v) => existsSync(path.join(POSTGRES_LIB, v, 'bin', name)))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error(`no PostgreSQL ${name} under ${POSTGRES_LIB}/<version>/bin`);
  return path.join(POSTGRES_LIB, versions[0], 'bin', name);
}

/** Postgres refuses to run as root: as root, its programs run as the `postgres` OS user. */
const asRoot = process.getuid?.() === 0;

async function runPostgresProgram(name: string, args: string[]): Promise<void> {
  const program = postgresProgram(name);
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', program, ...args]] : [program, args];
  await promisify(execFile)(file, argv, { timeout: START_TIMEOUT_MS * 2 });
}

/**
 * A PostgreSQL cluster of the test's own (initdb in a temporary directory, trust authentication,
 * superuser `postgres`, listening on 127.0.0.1 on a free port, its socket in that directory).
 * `crash` is `pg_ctl stop -m immediate` (every process quits at once, no checkpoint: the next start
 * recovers from the WAL), `stop` is `-m fast`.
 */
export async function ownPostgresCluster(): Promise<OwnServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'metering-postgres-'));
  if (asRoot) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, id('-u'), id('-g'));
  }
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'postgres.log');
  const port = await freePort();
  await runPostgresProgram('initdb', [
    ...['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C'],
    ...['--no-sync', '--no-instructions'],
  ]);
  appendFileSync(
    path.join(data, 'postgresql.conf'),
    `\nlisten_addresses = '127.0.0.1'\nport = ${port}\nunix_socket_directories = '${dir}'\n`,
  );
  const pgCtl = (...args: string[]) =>
    runPostgresProgram('pg_ctl', ['-D', data, '-w', '-t', String(START_TIMEOUT_MS / 1000), ...args]);
  const stopped = (mode: 'immediate' | 'fast') => async () => {
    if (existsSync(path.join(data, 'postmaster.pid'))) await pgCtl('stop', '-m', mode);
  };

  return ownServer(dir, {
    url: `postgres://postgres@127.0.0.1:${port}`,
    start: () =>
      pgCtl('start', '-l', log).catch((err: Error) => {
        throw new Error(`Postgres did not start on port ${port}: ${err.message}\n${log}:\n${logTail(log)}`);
      }),
    crash: stopped('immediate'),
    stop: stopped('fast'),
    end: stopped('immediate'),
  });
}
