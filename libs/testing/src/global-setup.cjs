// Jest global setup for the integration and end-to-end tiers: brings up the local stack
// (idempotent: reuses what runs) and exports its variables to the test workers.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '../../..');

module.exports = async function globalSetup(globalConfig, projectConfig) {
  const withServices = ['e2e', 'soak'].includes(projectConfig.displayName?.name);
  const args = ['tools/stack/stack.sh', 'up'];
  if (!withServices) args.push('--infra-only');
  if (withServices) execFileSync('node', ['tools/build/build.mjs'], { cwd: root, stdio: 'inherit' });
  execFileSync('bash', args, { cwd: root, stdio: 'inherit' });
  const envFile = path.join(process.env.STACK_DIR ?? path.join(root, '.stack'), 'env');
  for (const line of fs.readFileSync(envFile, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && process.env[line.slice(0, eq)] === undefined)
      process.env[line.slice(0, eq)] = line.slice(eq + 1);
  }
};
