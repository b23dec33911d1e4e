import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';

export const SERVICE_PORTS = {
  'tenant-registry': 3001,
  ingestion: 3002,
  aggregation: 3003,
  billing: 3004,
  audit: 3005,
  webhooks: 3006,
  dashboard: 3007,
} as const;

export type ServiceName = keyof typeof SERVICE_PORTS;
export const SERVICE_NAMES = Object.keys(SERVICE_PORTS) as ServiceName[];

export const workspaceRoot = path.resolve(__dirname, '../../..');
const stackDir = () => process.env.STACK_DIR ?? path.join(workspaceRoot, '.stack');

export const serviceUrl = (name: ServiceName, pathname = ''): string =>
  `http://127.0.0.1:${SERVICE_PORTS[name]}${pathname}`;

/** The pid of a service the local stack started. */
export function servicePid(name: ServiceName): number {
  return Number(readFileSync(path.join(stackDir(), 'pids', `${name}.pid`), 'utf8').trim());
}

/** The pids of every process the local stack started (services, Kafka, ClickHouse), by name. */
export function stackPids(): Record<string, number> {
  const dir = path.join(stackDir(), 'pids');
  return Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f.endsWith('.pid'))
      .map((f): [string, number] => [
        f.slice(0, -'.pid'.length),
        Number(readFileSync(path.join(dir, f), 'utf8').trim()),
      ]),
  );
}

export function serviceLog(name: ServiceName): string {
  return readFileSync(path.join(stackDir(), 'logs', `${name}.log`), 'utf8');
}

/** Starts whatever part of the stack is not running and waits until every service is ready. */
export function stackUp(): void {
  execFileSync('bash', [path.join(workspaceRoot, 'tools/stack/stack.sh'), 'up'], { stdio: 'inherit' });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Clean-ups of what this test file started and did not end yet: instances, own servers. */
const running = new Set<() => Promise<void>>();
const STOP_GRACE_MS = 30_000;

/** Has `stopInstances` run `cleanUp` unless the returned function was called first. */
export function cleanUpAtFileEnd(cleanUp: () => Promise<void>): () => void {
  running.add(cleanUp);
  return () => running.delete(cleanUp);
}

/**
 * Stops every instance and removes every own server this test file started and did not end (e.g.
 * when its `beforeAll` failed half-way): the e2e setup calls it after each file, so nothing a file
 * started outlives it.
 */
export async function stopInstances(): Promise<void> {
  await Promise.all([...running].map((cleanUp) => cleanUp()));
}

export interface ServiceInstance {
  url: string;
  /** Its process id (e.g. to SIGKILL it or read its memory). */
  pid: number;
  /** SIGTERM, then waits for the exit. */
  stop: () => Promise<void>;
  /** Resolves with the signal or exit code when the process ends, however it ends. */
  exited: Promise<NodeJS.Signals | number | null>;
}

/**
 * Another instance of a service beside the stack's, with its own ports (free ones unless PORT or
 * GRPC_PORT are given) and variables (e.g. low
 * limits), sharing the stack's Kafka, Postgres and ClickHouse. Resolves once it is ready.
 */
export async function startInstance(
  name: ServiceName,
  variables: Record<string, string> = {},
): Promise<ServiceInstance> {
  const { PATH, HOME, KAFKA_BROKERS, CLICKHOUSE_URL, POSTGRES_URL } = process.env;
  const env = {
    PORT: String(await freePort()),
    GRPC_PORT: String(await freePort()),
    ...variables,
  };
  // Its log, for a failing test to show why: .stack/logs/instances/<service>-<port>.log
  const logDir = path.join(stackDir(), 'logs', 'instances');
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${name}-${env.PORT}.log`);
  const log = openSync(logFile, 'w');
  const child = spawn(process.execPath, [path.join(workspaceRoot, 'dist/apps', name, 'src/main.js')], {
    env: {
      PATH,
      HOME,
      KAFKA_BROKERS,
      CLICKHOUSE_URL,
      DATABASE_URL: `${POSTGRES_URL}/metering_${name.replace(/-/g, '_')}`,
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const url = `http://127.0.0.1:${env.PORT}`;
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  // Services bound their own shutdown (SHUTDOWN_TIMEOUT_MS); this bounds a test's wait anyway.
  const stop = () => endProcess(child, exited, 'SIGTERM', STOP_GRACE_MS);
  const forget = cleanUpAtFileEnd(stop);
  void exited.then(forget);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${name} exited with ${child.signalCode ?? child.exitCode} before it was ready; log:\n${logTail(logFile)}`,
      );
    }
    const ready = await fetch(`${url}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { url, pid: child.pid!, stop, exited };
    if (Date.now() > deadline) {
      const checks = await fetch(`${url}/ready`).then(
        (r) => r.text(),
        (err: Error) => err.message,
      );
      await stop();
      throw new Error(`${name} on ${url} did not become ready: ${checks}; log:\n${logTail(logFile)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * A TCP port that nothing listens on, below the kernel's ephemeral range (32768 and up on Linux)
 * so that no outgoing connection can hold it by the time a service binds it.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** The last lines of a log file, for a failure message. */
export function logTail(file: string, lines = 30): string {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n') : '(no log)';
}

/**
 * Sends `signal` to a child that is still running and waits for its exit (`exited`), sending
 * SIGKILL if it has not exited within `graceMs`.
 */
export async function endProcess(
  child: ChildProcess,
  exited: Promise<unknown>,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(kill);
}
