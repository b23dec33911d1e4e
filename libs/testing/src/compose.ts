import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ConfigError, configKeys, loadConfig } from '@metering/config';

interface ComposeService {
  build?: unknown;
  command?: string[] | string;
  image?: string;
  ports?: string[];
  environment?: Record<string, string | number>;
  depends_on?: Record<string, unknown> | string[];
  healthcheck?: { test?: string[] | string };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
}

const root = path.resolve(__dirname, '../../..');

export function readComposeFile(): ComposeFile {
  return parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as ComposeFile;
}

/** Variables a config class cannot do without (no default). */
export function requiredConfigKeys(configClass: new () => object): string[] {
  try {
    loadConfig(configClass, {});
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.filter((p) => p.message === 'is required but not set').map((p) => p.variable);
  }
}

/** Host names a variable's value points at (URLs and host:port lists). */
function hostsIn(value: string): string[] {
  return value.split(',').map((part) => {
    const trimmed = part.trim();
    return trimmed.includes('://') ? new URL(trimmed).hostname : trimmed.split(':')[0];
  });
}

/**
 * What must hold between docker-compose.yml and an app: the service exists, publishes the app's
 * port, sets only variables the app reads and every one it requires, points them at services the
 * file defines, and is health-checked on /ready. Returns the problems found (empty when none).
 */
export function composeProblems(service: string, configClass: new () => { PORT: number }): string[] {
  const compose = readComposeFile();
  const entry = compose.services[service];
  if (!entry) return [`no service ${service} in docker-compose.yml`];
  const problems: string[] = [];
  const env = Object.fromEntries(Object.entries(entry.environment ?? {}).map(([k, v]) => [k, String(v)]));
  const known = new Set(configKeys(configClass));
  for (const key of Object.keys(env))
    if (!known.has(key)) problems.push(`${service} sets ${key}, which it does not read`);
  for (const key of requiredConfigKeys(configClass)) {
    if (!(key in env)) problems.push(`${service} does not set required ${key}`);
  }
  const port = loadConfig(configClass, { KAFKA_BROKERS: 'x:1', ...env }).PORT;
  if (!(entry.ports ?? []).some((p) => String(p).endsWith(`:${port}`))) {
    problems.push(`${service} does not publish its port ${port}`);
  }
  for (const key of ['KAFKA_BROKERS', 'DATABASE_URL', 'CLICKHOUSE_URL']) {
    if (!env[key]) continue;
    for (const host of hostsIn(env[key])) {
      if (!compose.services[host])
        problems.push(`${service}.${key} points at ${host}, not a compose service`);
    }
  }
  const command = [entry.command ?? []].flat().join(' ');
  if (!command.includes(`dist/apps/${service}/src/main.js`))
    problems.push(`${service} does not run its own main.js`);
  if (!entry.build && !entry.image) problems.push(`${service} has neither build nor image`);
  const health = [entry.healthcheck?.test ?? []].flat().join(' ');
  if (!health.includes(`:${port}/ready`))
    problems.push(`${service} healthcheck does not probe /ready on ${port}`);
  return problems;
}

/**
 * Config variables of a service that docs/configuration.md does not list in the service's
 * section or in "Every service".
 */
export function undocumentedConfigKeys(service: string, configClass: new () => object): string[] {
  const doc = readFileSync(path.join(root, 'docs/configuration.md'), 'utf8');
  const section = (title: string) => doc.split(/^## /m).find((s) => s.startsWith(`${title}\n`)) ?? '';
  const documented = section('Every service') + section(service);
  return configKeys(configClass).filter((key) => !documented.includes(`| \`${key}\` |`));
}
