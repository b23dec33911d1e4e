// The variables the local stack wrote to .stack/env (KAFKA_BROKERS, ADMIN_KEY, …), for tools.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function readStackEnv() {
  const file = path.join(process.env.STACK_DIR ?? path.join(root, '.stack'), 'env');
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}
