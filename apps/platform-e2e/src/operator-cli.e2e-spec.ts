import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually, stackVar, uniqueName, workspaceRoot } from '@metering/testing';

const CLI = path.join(workspaceRoot, 'tools/cli/metering.mjs');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the operator CLI with the stack's admin key, as an operator would. */
function cli(...args: string[]): Run {
  const res = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, METERING_KEY: stackVar('ADMIN_KEY') },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Runs a command with --json and returns its parsed output; fails the test on a non-zero exit. */
function json<T>(...args: string[]): T {
  const res = cli(...args, '--json');
  if (res.status !== 0) throw new Error(`metering ${args.join(' ')} exited ${res.status}: ${res.stderr}`);
  return JSON.parse(res.stdout) as T;
}

describe('operator CLI', () => {
  it('runs an account from creation to a verified audit chain through the public APIs', async () => {
    const account = json<{ id: string }>(
      'accounts',
      'create',
      '--name',
      uniqueName('cli'),
      '--anchor-day',
      '1',
    );
    const template = json<{ id: string }>(
      'templates',
      'create',
      '--account',
      account.id,
      '--name',
      'standard',
      '--limits',
      'maxAgents=5,maxWidgets=2',
    );
    const tenants = json<{ id: string; status: string; limits: Record<string, number> }[]>(
      'tenants',
      'create',
      '--account',
      account.id,
      '--template',
      template.id,
      '--count',
      '3',
    );
    expect(tenants).toHaveLength(3);
    expect(tenants.map((t) => t.limits)).toEqual(Array(3).fill({ maxAgents: 5, maxWidgets: 2 }));

    const listed = cli('tenants', 'list', '--account', account.id);
    expect(listed.status).toBe(0);
    for (const t of tenants) expect(listed.stdout).toContain(t.id);
    expect(listed.stdout).toMatch(/3 tenants/);

    const key = json<{ secret: string }>('keys', 'create', '--tenant', tenants[0].id);
    const sent = json<{ sent: number; accepted: number; duplicates: number; rejected: number }>(
      'events',
      'send',
      '--key',
      key.secret,
      '--meter',
      'api_calls',
      '--count',
      '250',
      '--batch',
      '100',
    );
    expect(sent).toMatchObject({ sent: 250, accepted: 250, duplicates: 0, rejected: 0 });

    const dir = mkdtempSync(path.join(tmpdir(), 'cli-plan-'));
    const planFile = path.join(dir, 'plan.json');
    const planId = uniqueName('cli-plan');
    writeFileSync(
      planFile,
      JSON.stringify({
        id: planId,
        name: 'CLI plan',
        currency: 'USD',
        interval: 'month',
        baseFee: '49.00',
        meters: [
          { meterKey: 'api_calls', included: '100', overage: { type: 'PER_UNIT', unitPrice: '0.10' } },
        ],
        gracePeriodHours: 24,
      }),
    );
    expect(json<{ id: string; latestVersion: number }>('plans', 'create', '--file', planFile)).toMatchObject({
      id: planId,
      latestVersion: 1,
    });
    // From the start of last month: last month's period has ended and is billed at once.
    const now = new Date();
    const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)).toISOString();
    json('subscribe', '--account', account.id, '--plan', planId, '--start', start);

    const run = json<{ accounts: { accountId: string; invoices: { invoiceId: string }[] }[] }>(
      'billing',
      'run',
      '--account',
      account.id,
    );
    expect(run.accounts.map((a) => a.accountId)).toEqual([account.id]);
    const invoices = json<{ id: string; total: { formatted: string } }[]>(
      'invoices',
      'list',
      '--account',
      account.id,
    );
    expect(invoices.map((i) => i.id)).toEqual(run.accounts[0].invoices.map((i) => i.invoiceId));
    // Last month had no usage: the base fee alone.
    expect(invoices[0].total.formatted).toBe('49.00');
    const shown = cli('invoices', 'show', invoices[0].id);
    expect(shown.stdout).toMatch(/total\s+49\.00/);

    // The audit log receives the domain events asynchronously: wait for the invoice's.
    const actions = await eventually(
      () => {
        const log = json<{ action: string }[]>('audit', 'log', '--account', account.id, '--limit', '100');
        const seen = log.map((e) => e.action);
        return Promise.resolve(seen.includes('invoice.finalized') ? seen : undefined);
      },
      { timeoutMs: 30_000, what: 'the finalized invoice in the audit log' },
    );
    expect(actions.filter((a) => a === 'tenant.created')).toHaveLength(3);
    const verify = json<{ ok: boolean; entries: number }>('audit', 'verify', '--account', account.id);
    expect(verify.ok).toBe(true);
    expect(verify.entries).toBeGreaterThanOrEqual(actions.length);
  });

  it('names the bad option or field and exits non-zero', () => {
    const usage = cli('tenants', 'limits', 'ten_x', '--limits', 'maxAgents=many');
    expect(usage.status).toBe(64);
    expect(usage.stderr).toMatch(/--limits: "maxAgents=many" is not key=integer/);

    const missing = cli('accounts', 'create');
    expect(missing.status).toBe(64);
    expect(missing.stderr).toMatch(/--name is required/);

    const refused = cli('accounts', 'create', '--name', uniqueName('cli'), '--currency', 'dollars');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/400/);
    expect(refused.stderr).toMatch(/currency/);
  });
});
