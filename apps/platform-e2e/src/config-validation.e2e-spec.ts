import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { SERVICE_NAMES, workspaceRoot } from '@metering/testing';

function boot(name: string, env: Record<string, string>) {
  const main = path.join(workspaceRoot, 'dist/apps', name, 'src/main.js');
  const { PATH, HOME } = process.env;
  return spawnSync(process.execPath, [main], {
    env: { PATH, HOME, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

// The dashboard talks to no broker: it has no required variable (its service URLs default to the stack).
const KAFKA_SERVICES = SERVICE_NAMES.filter((name) => name !== 'dashboard');

describe('configuration at boot', () => {
  it.each(KAFKA_SERVICES)('%s exits non-zero naming a missing variable', (name) => {
    const run = boot(name, {});
    expect(run.status).toBe(78);
    expect(run.stderr).toMatch(/KAFKA_BROKERS is required but not set/);
  });

  it.each(SERVICE_NAMES)('%s exits non-zero naming a bad variable', (name) => {
    const run = boot(name, { KAFKA_BROKERS: '127.0.0.1:1', PORT: 'eighty' });
    expect(run.status).toBe(78);
    expect(run.stderr).toMatch(/PORT is invalid/);
  });
});
