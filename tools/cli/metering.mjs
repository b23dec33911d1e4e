#!/usr/bin/env node
// The operator CLI: accounts, plans, subscriptions, templates, tenants, keys, test events, quotas,
// billing runs, invoices and the audit chain, through the services' public REST APIs only.
// Tables for people, `--json` for scripts; progress bars (on stderr) for long work.
//
//   npm run cli -- help
//
// Credentials: --key, else METERING_KEY, else the local stack's platform admin key (.stack/env).
// Service URLs: REGISTRY_URL, INGESTION_URL, AGGREGATION_URL, BILLING_URL, AUDIT_URL.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ADMIN_KEY, ApiError, api, listAll } from '../lib/clients.mjs';
import { grouped, table } from '../lib/table.mjs';

const USAGE = `metering <command> [options]   (--json for machine-readable output, --key K for credentials)

  accounts list
  accounts create --name N [--currency USD] [--timezone UTC] [--anchor-day 1]
  plans list
  plans create --file plan.json                    (a plan as POST /v1/plans takes it)
  subscribe --account A --plan P [--version V] [--start ISO] [--anchor-day D] [--timezone TZ]
  templates list --account A
  templates create --account A --name N [--limits k=v,...] [--retention-days D]
  tenants list --account A [--status active|suspended|deleted]
  tenants create --account A --template T [--count N] [--prefix app] [--limits k=v,...]
  tenants show|history <tenantId>
  tenants suspend|resume|delete <tenantId> [--reason R]
  tenants limits <tenantId> --limits k=v,...
  keys create --tenant T [--scopes ingest,...] [--name N]      (a tenant API key)
  keys create --account A --role owner|admin|operator|viewer  (a management key)
  keys revoke <keyId>
  events send --key K [--meter api_calls] [--count 1000] [--batch 500] [--value V] [--subjects 50] [--days-back 0]
  meters list
  quotas --account A
  usage --account A --meter M [--from ISO] [--to ISO] [--window hour|day]
  billing run [--account A] [--as-of ISO]
  invoices list --account A
  invoices show <invoiceId>
  audit verify --account A
  audit log --account A [--limit 20]`;

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    json: { type: 'boolean' },
    key: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    account: { type: 'string' },
    tenant: { type: 'string' },
    template: { type: 'string' },
    name: { type: 'string' },
    currency: { type: 'string' },
    timezone: { type: 'string' },
    'anchor-day': { type: 'string' },
    file: { type: 'string' },
    plan: { type: 'string' },
    version: { type: 'string' },
    start: { type: 'string' },
    limits: { type: 'string' },
    'retention-days': { type: 'string' },
    status: { type: 'string' },
    count: { type: 'string' },
    prefix: { type: 'string' },
    reason: { type: 'string' },
    scopes: { type: 'string' },
    role: { type: 'string' },
    meter: { type: 'string' },
    batch: { type: 'string' },
    value: { type: 'string' },
    subjects: { type: 'string' },
    'days-back': { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    window: { type: 'string' },
    'as-of': { type: 'string' },
    limit: { type: 'string' },
  },
});

const key = opt.key ?? ADMIN_KEY;
const request = (service, method, path, body) =>
  // Only reads are repeated after a dropped connection or a 503: a create might have happened.
  api(service, method, path, { key, body, retry: method === 'GET' });

class UsageError extends Error {}

function need(name) {
  const value = opt[name];
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

function integer(name, fallback, min = 0) {
  const raw = opt[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}`);
  return n;
}

/** `maxAgents=5,diskQuotaMb=1024` → { maxAgents: 5, diskQuotaMb: 1024 } */
function limits(raw) {
  if (!raw) return undefined;
  return Object.fromEntries(
    raw.split(',').map((pair) => {
      const [k, v] = pair.split('=');
      if (!k || v === undefined || !/^\d+$/.test(v))
        throw new UsageError(`--limits: "${pair}" is not key=integer`);
      return [k.trim(), Number(v)];
    }),
  );
}

const positional = (i, what) => {
  const value = positionals[i];
  if (!value) throw new UsageError(`${what} is required`);
  return value;
};

/** A progress bar on stderr (drawn in place on a terminal, every 10% otherwise). */
function progress(total, label) {
  const tty = process.stderr.isTTY && !opt.json;
  let done = 0;
  let lastDecile = -1;
  const started = Date.now();
  const draw = () => {
    const share = total ? done / total : 1;
    const width = 30;
    const bar = '█'.repeat(Math.round(share * width)).padEnd(width, '░');
    const rate = done / Math.max(0.001, (Date.now() - started) / 1000);
    return `${label} ${bar} ${grouped(done)}/${grouped(total)} (${grouped(Math.round(rate))}/s)`;
  };
  return {
    add(n) {
      done += n;
      if (tty) process.stderr.write(`\r${draw()}`);
      else if (!opt.json && Math.floor((done / total) * 10) > lastDecile) {
        lastDecile = Math.floor((done / total) * 10);
        process.stderr.write(`${draw()}\n`);
      }
    },
    end() {
      if (tty) process.stderr.write(`\r${draw()}\n`);
    },
  };
}

/** Prints `data` as JSON with --json, else the human rendering. */
function out(data, human) {
  console.log(opt.json ? JSON.stringify(data, null, 2) : human(data));
}

const when = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, 'Z') : '');
const limitText = (l = {}) =>
  Object.entries(l)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

// ── commands ────────────────────────────────────────────────────────────────────────────────────

const commands = {
  async 'accounts list'() {
    const accounts = await listAll('registry', '/v1/accounts');
    out(accounts, (rows) =>
      table(
        ['id', 'name', 'currency', 'timezone', 'anchor', 'status'],
        rows.map((a) => [a.id, a.name, a.currency, a.timezone, a.billingAnchorDay, a.status]),
        'lllrrl',
      ),
    );
  },

  async 'accounts create'() {
    const account = await request('registry', 'POST', '/v1/accounts', {
      name: need('name'),
      currency: opt.currency ?? 'USD',
      timezone: opt.timezone ?? 'UTC',
      billingAnchorDay: integer('anchor-day', 1, 1),
    });
    out(
      account,
      (a) => `account ${a.id} created (${a.name}, ${a.currency}, ${a.timezone}, day ${a.billingAnchorDay})`,
    );
  },

  async 'plans list'() {
    const { plans } = await request('billing', 'GET', '/v1/plans');
    out(plans, (rows) =>
      table(
        ['id', 'name', 'currency', 'latest version', 'base fee', 'meters'],
        rows.map((p) => {
          const v = p.versions?.find((x) => x.version === p.latestVersion) ?? {};
          return [
            p.id,
            p.name,
            v.currency,
            p.latestVersion,
            v.baseFee,
            (v.meters ?? []).map((m) => m.meterKey).join(' '),
          ];
        }),
        'lllrrl',
      ),
    );
  },

  async 'plans create'() {
    const plan = JSON.parse(readFileSync(need('file'), 'utf8'));
    const created = await request('billing', 'POST', '/v1/plans', plan);
    out(created, (p) => `plan ${p.id} created, version ${p.latestVersion}`);
  },

  async subscribe() {
    const accountId = need('account');
    const planId = need('plan');
    const planVersion = opt.version
      ? integer('version', undefined, 1)
      : (await request('billing', 'GET', `/v1/plans/${encodeURIComponent(planId)}`)).latestVersion;
    const account = await request('registry', 'GET', `/v1/accounts/${accountId}`);
    const subscription = await request('billing', 'PUT', `/v1/accounts/${accountId}/subscription`, {
      planId,
      planVersion,
      startAt: opt.start ?? new Date().toISOString(),
      anchorDay: integer('anchor-day', account.billingAnchorDay, 1),
      timezone: opt.timezone ?? account.timezone,
    });
    out(subscription, () => `account ${accountId} subscribed to ${planId} v${planVersion}`);
  },

  async 'templates list'() {
    const { items } = await request('registry', 'GET', `/v1/templates?accountId=${need('account')}`);
    out(items, (rows) =>
      table(
        ['id', 'name', 'limits', 'retention days'],
        rows.map((t) => [t.id, t.name, limitText(t.limits), t.retentionDays]),
        'lllr',
      ),
    );
  },

  async 'templates create'() {
    const template = await request('registry', 'POST', '/v1/templates', {
      accountId: need('account'),
      name: need('name'),
      limits: limits(opt.limits) ?? {},
      ...(opt['retention-days'] ? { retentionDays: integer('retention-days', undefined, 1) } : {}),
    });
    out(template, (t) => `template ${t.id} created (${t.name})`);
  },

  async 'tenants list'() {
    const status = opt.status ? `?status=${encodeURIComponent(opt.status)}` : '';
    const tenants = await listAll('registry', `/v1/accounts/${need('account')}/tenants${status}`);
    out(
      tenants,
      (rows) =>
        `${table(
          ['id', 'name', 'status', 'limits'],
          rows.map((t) => [t.id, t.name, t.status, limitText(t.limits)]),
        )}\n  ${rows.length} tenants`,
    );
  },

  async 'tenants create'() {
    const accountId = need('account');
    const templateId = need('template');
    const count = integer('count', 1, 1);
    const prefix = opt.prefix ?? 'app';
    const suffix = randomUUID().slice(0, 6);
    const chunk = 100;
    const bar = progress(count, 'creating tenants');
    const created = [];
    for (let i = 0; i < count; i += chunk) {
      const names = Array.from(
        { length: Math.min(chunk, count - i) },
        (_, j) => `${prefix}-${suffix}-${i + j + 1}`,
      );
      const res = await request('registry', 'POST', `/v1/accounts/${accountId}/tenants/bulk`, {
        templateId,
        tenants: names.map((name) => ({ name, ...(opt.limits ? { limits: limits(opt.limits) } : {}) })),
      });
      created.push(...res.tenants);
      bar.add(names.length);
    }
    bar.end();
    out(created, (rows) =>
      table(
        ['id', 'name', 'status', 'limits'],
        rows.map((t) => [t.id, t.name, t.status, limitText(t.limits)]),
      ),
    );
  },

  async 'tenants show'() {
    const tenant = await request('registry', 'GET', `/v1/tenants/${positional(2, 'tenant id')}`);
    out(tenant, (t) =>
      table(
        ['field', 'value'],
        [
          ['id', t.id],
          ['account', t.accountId],
          ['name', t.name],
          ['status', t.status],
          ['limits', limitText(t.limits)],
          ['features', limitText(t.features)],
          ['placement', limitText(t.placement)],
        ],
      ),
    );
  },

  async 'tenants history'() {
    const history = await request('registry', 'GET', `/v1/tenants/${positional(2, 'tenant id')}/history`);
    const events = history.events ?? history.items ?? [];
    out(history, () =>
      table(
        ['version', 'time', 'event', 'actor'],
        events.map((e) => [e.version ?? e.aggregateVersion, when(e.occurredAt), e.type, e.actor?.id ?? '']),
        'rlll',
      ),
    );
  },

  async 'tenants suspend'() {
    const tenant = await request('registry', 'POST', `/v1/tenants/${positional(2, 'tenant id')}/suspend`, {
      reason: opt.reason ?? 'suspended by an operator',
    });
    out(tenant, (t) => `tenant ${t.id} ${t.status}`);
  },

  async 'tenants resume'() {
    const tenant = await request('registry', 'POST', `/v1/tenants/${positional(2, 'tenant id')}/resume`, {});
    out(tenant, (t) => `tenant ${t.id} ${t.status}`);
  },

  async 'tenants delete'() {
    const tenant = await request('registry', 'DELETE', `/v1/tenants/${positional(2, 'tenant id')}`);
    out(tenant ?? {}, (t) => `tenant ${t.id ?? positionals[2]} ${t.status ?? 'deleted'}`);
  },

  async 'tenants limits'() {
    const tenant = await request('registry', 'PUT', `/v1/tenants/${positional(2, 'tenant id')}/limits`, {
      limits: limits(need('limits')),
    });
    out(tenant, (t) => `tenant ${t.id} limits: ${limitText(t.limits)}`);
  },

  async 'keys create'() {
    if (opt.tenant) {
      const created = await request('registry', 'POST', `/v1/tenants/${opt.tenant}/api-keys`, {
        scopes: (opt.scopes ?? 'ingest').split(','),
        name: opt.name ?? 'cli',
      });
      out(created, (k) => `API key ${k.id} (${k.scopes.join(', ')}); secret, shown once:\n${k.secret}`);
      return;
    }
    const created = await request('registry', 'POST', `/v1/accounts/${need('account')}/management-keys`, {
      role: need('role'),
      ...(opt.name ? { name: opt.name } : {}),
    });
    out(created, (k) => `management key ${k.id} (${k.role}); secret, shown once:\n${k.secret}`);
  },

  async 'keys revoke'() {
    const id = positional(2, 'key id');
    await request('registry', 'DELETE', `/v1/api-keys/${id}`);
    out({ id, revoked: true }, () => `API key ${id} revoked`);
  },

  async 'meters list'() {
    const { meters } = await request('aggregation', 'GET', '/v1/meters');
    out(meters, (rows) =>
      table(
        ['key', 'event type', 'aggregation', 'value property', 'pooling', 'late events'],
        rows.map((m) => [m.key, m.eventType, m.aggregation, m.valueProperty ?? '', m.pooling, m.lateEvents]),
      ),
    );
  },

  async 'events send'() {
    const ingestKey = need('key');
    const meterKey = opt.meter ?? 'api_calls';
    const { meters } = await api('aggregation', 'GET', '/v1/meters', { key: ADMIN_KEY });
    const meter = meters.find((m) => m.key === meterKey);
    if (!meter) throw new UsageError(`--meter: no meter ${meterKey} (see: meters list)`);
    const count = integer('count', 1000, 1);
    const batch = Math.min(integer('batch', 500, 1), 1000);
    const subjects = integer('subjects', 50, 1);
    const daysBack = integer('days-back', 0);
    const value = opt.value === undefined ? undefined : Number(opt.value);
    if (value !== undefined && !Number.isFinite(value)) throw new UsageError('--value must be a number');
    const run = randomUUID().slice(0, 8);
    const event = (i) => {
      const time = Date.now() - daysBack * 86_400_000 - Math.floor(Math.random() * 60_000);
      return {
        specversion: '1.0',
        id: `cli-${run}-${i}`,
        source: 'metering-cli',
        type: meter.eventType,
        time: new Date(time).toISOString(),
        subject: `user-${i % subjects}`,
        data: meter.valueProperty ? { [meter.valueProperty]: value ?? 1 + (i % 10) } : {},
      };
    };
    const tally = { sent: 0, accepted: 0, duplicates: 0, rejected: 0, reasons: {} };
    const bar = progress(count, `sending ${meter.eventType}`);
    for (let i = 0; i < count; i += batch) {
      const events = Array.from({ length: Math.min(batch, count - i) }, (_, j) => event(i + j));
      // A batch is safe to repeat: event ids make a retry a duplicate, never a second count.
      const res = await api('ingestion', 'POST', '/v1/events', {
        key: ingestKey,
        body: events,
        type: 'application/cloudevents-batch+json',
      });
      tally.sent += events.length;
      tally.accepted += res.accepted;
      tally.duplicates += res.duplicates;
      tally.rejected += res.rejected.length;
      for (const r of res.rejected)
        for (const reason of r.reasons) tally.reasons[reason] = (tally.reasons[reason] ?? 0) + 1;
      bar.add(events.length);
    }
    bar.end();
    out(tally, (t) =>
      [
        table(
          ['sent', 'accepted', 'duplicates', 'rejected'],
          [[grouped(t.sent), grouped(t.accepted), grouped(t.duplicates), grouped(t.rejected)]],
          'rrrr',
        ),
        ...Object.entries(t.reasons).map(([r, n]) => `  ${n} × ${r}`),
      ].join('\n'),
    );
  },

  async quotas() {
    // A subscription reaches aggregation through billing's events: a new one may take a moment.
    const quotas = await request('aggregation', 'GET', `/v1/accounts/${need('account')}/quotas`);
    out(quotas, (q) =>
      [
        `plan ${q.planId} v${q.planVersion}, period ${when(q.period.start)} → ${when(q.period.end)}`,
        table(
          ['meter', 'used', 'included', 'used %', 'overage', 'gauge', 'tenants'],
          q.meters.map((m) => {
            const share = Math.min(1, Number(m.percentUsed) / 100);
            return [
              m.meter,
              grouped(m.used),
              grouped(m.included),
              `${Number(m.percentUsed).toFixed(1)}%`,
              grouped(m.overage),
              '█'.repeat(Math.round(share * 20)).padEnd(20, '░'),
              m.tenants.length,
            ];
          }),
          'lrrrrlr',
        ),
      ].join('\n'),
    );
  },

  async usage() {
    const query = new URLSearchParams({
      accountId: need('account'),
      meter: need('meter'),
      from: opt.from ?? new Date(Date.now() - 86_400_000).toISOString(),
      to: opt.to ?? new Date().toISOString(),
      ...(opt.window ? { window: opt.window } : {}),
    });
    const usage = await request('aggregation', 'GET', `/v1/usage?${query}`);
    out(usage, (u) =>
      [
        `${u.meter} (${u.aggregation}) ${when(u.from)} → ${when(u.to)}: ${grouped(u.value)} from ${grouped(u.events)} events`,
        table(
          ['tenant', 'usage', 'events'],
          u.tenants.map((t) => [t.tenantId, grouped(t.usage), grouped(t.events)]),
          'lrr',
        ),
        ...(u.windows?.length
          ? [
              table(
                ['window start', 'usage'],
                u.windows.filter((w) => w.events > 0).map((w) => [when(w.from), grouped(w.value)]),
                'lr',
              ),
            ]
          : []),
      ].join('\n'),
    );
  },

  async 'billing run'() {
    const result = await request('billing', 'POST', '/v1/billing-runs', {
      asOf: opt['as-of'] ?? new Date().toISOString(),
      ...(opt.account ? { accountId: opt.account } : {}),
    });
    const rows = result.accounts.flatMap((a) =>
      a.invoices.map((i) => [a.accountId, i.invoiceId, i.periodStart.slice(0, 10), i.outcome, i.status]),
    );
    out(
      result,
      () =>
        `${table(['account', 'invoice', 'period', 'outcome', 'status'], rows)}\n  ${result.accounts.length} accounts`,
    );
  },

  async 'invoices list'() {
    const { invoices } = await request('billing', 'GET', `/v1/accounts/${need('account')}/invoices`);
    out(invoices, (rows) =>
      table(
        ['id', 'period', 'status', 'currency', 'total'],
        rows.map((i) => [
          i.id,
          `${i.periodStart.slice(0, 10)} → ${i.periodEnd.slice(0, 10)}`,
          i.status,
          i.currency,
          grouped(i.total.formatted),
        ]),
        'lllr',
      ),
    );
  },

  async 'invoices show'() {
    const invoice = await request('billing', 'GET', `/v1/invoices/${positional(2, 'invoice id')}`);
    out(invoice, (inv) => {
      const rows = [];
      for (const line of inv.lines) {
        rows.push([
          line.description,
          line.kind === 'usage' ? grouped(line.pooled) : '',
          grouped(line.amount.formatted),
        ]);
        for (const share of line.attribution)
          rows.push([`  ${share.tenantId}`, grouped(share.quantity), grouped(share.amount.formatted)]);
      }
      rows.push(null, ['total', '', grouped(inv.total.formatted)]);
      return [
        `invoice ${inv.id} (${inv.status}) ${inv.periodStartDate} → ${inv.periodEndDate}, ${inv.currency}`,
        table(['line', 'quantity', 'amount'], rows, 'lrr'),
      ].join('\n');
    });
  },

  async 'audit verify'() {
    const accountId = need('account');
    const result = await request('audit', 'GET', `/v1/audit/verify?accountId=${accountId}`);
    out(result, (v) =>
      v.ok
        ? `✓ audit chain of ${accountId} holds: ${grouped(v.entries)} entries, head #${v.head?.seq} ${v.head?.hash?.slice(0, 16) ?? ''}…`
        : `✗ audit chain of ${accountId} is broken at ${JSON.stringify(v.firstBroken)}`,
    );
    if (!result.ok) process.exitCode = 2;
  },

  async 'audit log'() {
    const query = new URLSearchParams({ accountId: need('account'), limit: String(integer('limit', 20, 1)) });
    const { entries } = await request('audit', 'GET', `/v1/audit?${query}`);
    out(entries, (rows) =>
      table(
        ['seq', 'time', 'action', 'actor', 'tenant'],
        rows.map((e) => [
          e.seq,
          when(e.occurredAt ?? e.time),
          e.action,
          e.actor?.id ?? e.actor,
          e.tenantId ?? '',
        ]),
        'rllll',
      ),
    );
  },
};

async function main() {
  const [first, second] = positionals;
  const name = commands[`${first} ${second}`] ? `${first} ${second}` : first;
  if (opt.help || !first || first === 'help') return console.log(USAGE);
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${positionals.join(' ')}"`);
  if (!key) throw new UsageError('no credentials: pass --key, set METERING_KEY, or start the local stack');
  await command();
}

main().catch((err) => {
  if (err instanceof UsageError) {
    console.error(`${err.message} (metering help lists the commands and their options)`);
    process.exitCode = 64;
  } else if (err instanceof ApiError) {
    if (opt.json) console.error(JSON.stringify({ status: err.status, error: err.body?.error ?? err.body }));
    else {
      console.error(`✗ ${err.message}`);
      const details = err.body?.error?.details;
      for (const d of Array.isArray(details) ? details : details ? [details] : [])
        console.error(`  ${[d.field, ...(d.reasons ?? [])].filter(Boolean).join(': ')}`);
    }
    process.exitCode = 1;
  } else {
    console.error(`✗ ${err.message}`);
    process.exitCode = 1;
  }
});
