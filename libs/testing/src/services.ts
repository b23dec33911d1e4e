import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const SERVICE_PORTS = {
  'tenant-registry': 3001,
  ingestion: 3002,
  aggregation: 3003,
  billing: 3004,
  audit: 3005,
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

/**
 * Another instance of a service beside the stack's, with its own port and variables (e.g. low
 * limits), sharing the stack's Kafka, Postgres and ClickHouse. Resolves once it is ready.
 */
export async function startInstance(
  name: ServiceName,
  env: Record<string, string> & { PORT: string },
): Promise<{ url: string; stop: () => Promise<void> }> {
  const { PATH, HOME, KAFKA_BROKERS, CLICKHOUSE_URL, POSTGRES_URL } = process.env;
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
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${env.PORT}`;
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before it was ready`);
    const ready = await fetch(`${url}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { url, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} on ${url} did not become ready`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
