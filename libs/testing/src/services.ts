import { execFileSync } from 'node:child_process';
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
