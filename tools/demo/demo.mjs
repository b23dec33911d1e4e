// The platform's demo (`npm start` runs it after starting the stack): a vendor on a pooled base
// plan with 25 tenants, a month of their usage, the month billed and checked — through the
// public interfaces only (the five REST APIs, and one event on Kafka's usage.ingest.v1).
//
//  1. billing: the plan `demo-growth` (found again, or created); aggregation's meter catalog.
//  2. registry: the vendor account (found again by name), a template, 25 tenants in one bulk
//     call with limits of their own, an ingest API key per tenant (kept in .stack/demo-keys.json,
//     reused while the registry lists it as live); billing: the subscription.
//  3. ingestion: every tenant's producer sends the last complete billing period day by day; one
//     tenant is suspended mid-month and its later requests are refused; a producer retry re-sends
//     a day (duplicates); one call arrives straight on Kafka; a little traffic of today.
//  4. billing: a run closes the period, a late call arrives within the grace period, a second run
//     re-rates the draft, the invoice is finalized, printed, and checked against the demo's own
//     computation (tools/demo/expected.mjs) — a difference exits non-zero.
//  5. audit: the account's hash chain verified; aggregation: quotas of the current period.
//
// Which month: ingestion refuses events older than 35 days (INGEST_MAX_LATENESS_DAYS), so the
// whole demo month must have started less than 35 days ago. A monthly period is 28–31 days long,
// so the month before a period that began in the last few days fits: the subscription is anchored
// on today's day of the month (UTC; at most 28, the registry's limit), so the period that just
// ended started 28–31 days ago (at most 34 days on the 29th–31st, anchored on the 28th). The
// account is named after its anchor ("Demo Vendor (billing day 24)"): a later run reuses an
// account whose last ended period still fits the window (and its grace period), which holds for
// three to five days after its period ended and again each month when the next period ends; on
// other days the demo opens the account of today's anchor. Event ids are derived from tenant,
// period and position, so re-sending a month adds nothing.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { root } from '../stack/stack-env.mjs';
import { ApiError, SERVICES, api, call, listAll, postEvents, publishDirect, sleep } from '../lib/clients.mjs';
import { expectedInvoice, formatMinor, formatNano, pool, toNano } from './expected.mjs';
import {
  DAY_MS,
  DIRECT,
  GRACE_HOURS,
  LATE,
  PLAN,
  PLAN_ID,
  RETRIED,
  SUSPENDED,
  TEMPLATE,
  TENANTS,
  currentEvents,
  day,
  dayEvents,
  directEvent,
  lateEvent,
  periodAt,
  previousPeriod,
} from './scenario.mjs';
import { grouped, table } from '../lib/table.mjs';

const LATENESS_MS = 35 * DAY_MS;
const SAFETY_MS = 30 * 60_000;
const ACCOUNT_PREFIX = 'Demo Vendor';
const METERS = ['mau', 'pcc', 'voice_minutes', 'video_minutes'];
const METER_OF = {
  'user.active': 'mau',
  'connections.sampled': 'pcc',
  'call.voice.completed': 'voice_minutes',
  'call.video.completed': 'video_minutes',
};
const EXPONENT = 2; // USD
const iso = (ms) => new Date(ms).toISOString();
const minute = (ms) => iso(ms).slice(0, 16).replace('T', ' ');
const say = (text = '') => console.log(text);
const section = (title) => say(`\n▸ ${title}`);
const problems = [];

// ── the plan, the account and its subscription ───────────────────────────────────────────────

/** JSON with keys sorted at every level: billing may list a version's fields in another order. */
const canonical = (v) =>
  Array.isArray(v)
    ? `[${v.map(canonical).join(',')}]`
    : v && typeof v === 'object'
      ? `{${Object.keys(v)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
          .join(',')}}`
      : JSON.stringify(v);

const specOf = (v) =>
  canonical({
    currency: v.currency,
    interval: v.interval,
    baseFee: v.baseFee,
    meters: v.meters,
    tenantLimits: v.tenantLimits,
    gracePeriodHours: v.gracePeriodHours,
  });

/** The demo's plan: found again (a version equal to PLAN), given a new version, or created. */
async function ensurePlan() {
  const { name, ...spec } = PLAN;
  const found = await call('billing', 'GET', `/v1/plans/${PLAN_ID}`, { expect: [404] });
  if (found.status === 404) {
    const plan = await api('billing', 'POST', '/v1/plans', { body: { id: PLAN_ID, ...PLAN } });
    return { plan, version: plan.latestVersion, how: 'created' };
  }
  const same = found.body.versions.find((v) => specOf(v) === specOf(spec));
  if (same) return { plan: found.body, version: same.version, how: 'found again' };
  const added = await api('billing', 'POST', `/v1/plans/${PLAN_ID}/versions`, { body: spec });
  const plan = await api('billing', 'GET', `/v1/plans/${PLAN_ID}`);
  return { plan, version: added.version, how: `new version (${name} changed)` };
}

/** The last ended period of a calendar, and whether a month of its events fits ingestion's window. */
function demoMonth(anchorDay, nowMs) {
  const current = periodAt(nowMs, anchorDay);
  const last = previousPeriod(current, anchorDay);
  const fits =
    last.startMs >= nowMs - LATENESS_MS + SAFETY_MS &&
    nowMs < last.endMs + GRACE_HOURS * 3_600_000 - SAFETY_MS;
  return { current, last, fits };
}

/** The vendor account: the one whose month still fits (latest first), else today's, created. */
async function ensureAccount(nowMs) {
  const pattern = new RegExp(`^${ACCOUNT_PREFIX} \\(billing day (\\d+)\\)$`);
  const candidates = (await listAll('registry', '/v1/accounts'))
    .map((a) => ({ ...a, anchorDay: Number(pattern.exec(a.name)?.[1]) }))
    .filter((a) => a.anchorDay && demoMonth(a.anchorDay, nowMs).fits)
    .sort((a, b) => demoMonth(b.anchorDay, nowMs).last.endMs - demoMonth(a.anchorDay, nowMs).last.endMs);
  if (candidates.length) return { account: candidates[0], how: 'found again' };
  const anchorDay = Math.min(new Date(nowMs).getUTCDate(), 28);
  if (!demoMonth(anchorDay, nowMs).fits) {
    throw new Error(
      `the month before the ${anchorDay}th does not fit ingestion's 35-day window right now (late on the 31st); run the demo again after midnight UTC`,
    );
  }
  const account = await api('registry', 'POST', '/v1/accounts', {
    body: {
      name: `${ACCOUNT_PREFIX} (billing day ${anchorDay})`,
      currency: 'USD',
      timezone: 'UTC',
      billingAnchorDay: anchorDay,
    },
  });
  return { account: { ...account, anchorDay }, how: 'created' };
}

/** The account's subscription: kept when it exists, else from the start of the period before the demo month. */
async function ensureSubscription(account, plan, nowMs) {
  const found = await call('billing', 'GET', `/v1/accounts/${account.id}/subscription`, { expect: [404] });
  if (found.status === 200) return { subscription: found.body, how: 'found again' };
  const { last } = demoMonth(account.anchorDay, nowMs);
  const subscription = await api('billing', 'PUT', `/v1/accounts/${account.id}/subscription`, {
    body: {
      planId: PLAN_ID,
      planVersion: plan.version,
      startAt: iso(previousPeriod(last, account.anchorDay).startMs),
      anchorDay: account.anchorDay,
      timezone: 'UTC',
    },
  });
  return { subscription, how: 'created' };
}

// ── tenants and their keys ───────────────────────────────────────────────────────────────────

async function ensureTenants(accountId) {
  const templates = (await api('registry', 'GET', `/v1/templates?accountId=${accountId}`)).items;
  let template = templates.find((t) => t.name === TEMPLATE.name);
  const templateHow = template ? 'found again' : 'created';
  template ??= await api('registry', 'POST', '/v1/templates', { body: { accountId, ...TEMPLATE } });
  const existing = new Map(
    (await listAll('registry', `/v1/accounts/${accountId}/tenants`)).map((t) => [t.name, t]),
  );
  const missing = TENANTS.filter((t) => !existing.has(t.name));
  if (missing.length) {
    const bulk = await api('registry', 'POST', `/v1/accounts/${accountId}/tenants/bulk`, {
      body: {
        templateId: template.id,
        tenants: missing.map((t) => ({
          name: t.name,
          limits: t.limits,
          profile: {
            companyName: t.name.split('-')[0].replace(/^./, (c) => c.toUpperCase()),
            domain: `${t.name}.example.com`,
          },
        })),
      },
    });
    for (const t of bulk.tenants) existing.set(t.name, t);
  }
  const tenants = TENANTS.map((spec) => ({ ...spec, ...existing.get(spec.name), spec }));
  return { template, templateHow, tenants, created: missing.length };
}

const keyFile = path.join(process.env.STACK_DIR ?? path.join(root, '.stack'), 'demo-keys.json');

/**
 * An ingest key per tenant. Secrets are shown once, so the demo keeps them in .stack/ (next to the
 * stack's admin key) and reuses a key while the registry lists it unrevoked; otherwise it issues one.
 */
async function ensureKeys(tenants) {
  const cache = existsSync(keyFile) ? JSON.parse(readFileSync(keyFile, 'utf8')) : {};
  let issued = 0;
  await Promise.all(
    tenants.map(async (t) => {
      const cached = cache[t.id];
      if (cached) {
        const keys = (await api('registry', 'GET', `/v1/tenants/${t.id}/api-keys`)).items;
        const live = keys.find(
          (k) =>
            k.id === cached.keyId &&
            !k.revokedAt &&
            (!k.expiresAt || Date.parse(k.expiresAt) > Date.now() + 3_600_000),
        );
        if (live) return void (t.apiKey = cached.secret);
      }
      const key = await api('registry', 'POST', `/v1/tenants/${t.id}/api-keys`, {
        body: { scopes: ['ingest'], name: 'demo-producer' },
      });
      cache[t.id] = { keyId: key.id, secret: key.secret };
      t.apiKey = key.secret;
      issued++;
    }),
  );
  writeFileSync(keyFile, JSON.stringify(cache, null, 1), { mode: 0o600 });
  return issued;
}

// ── producers ────────────────────────────────────────────────────────────────────────────────

const newTally = () => ({
  sent: 0,
  accepted: 0,
  duplicates: 0,
  refused: 0,
  rejected: [],
  refusedWith: new Set(),
});

/** A producer's send: up to 1,000 events a request; a refused request (403) counts its events as refused. */
async function produce(tenant, events, tally) {
  for (let i = 0; i < events.length; i += 1000) {
    const chunk = events.slice(i, i + 1000);
    tally.sent += chunk.length;
    const res = await postEvents(tenant.apiKey, chunk);
    if (res.refused) {
      tally.refused += chunk.length;
      tally.refusedWith.add(res.refused);
      continue;
    }
    tally.accepted += res.accepted;
    tally.duplicates += res.duplicates;
    tally.rejected.push(...res.rejected, ...(res.conflicts ?? []));
  }
}

/** Waits until ingestion's view of the tenant's state is `suspended` (or not), probing with an invalid event. */
async function untilIngestionSees(tenant, suspended) {
  const probe = [
    { specversion: '1.0', id: 'probe', source: 'demo://probe', type: 'demo.probe', time: iso(Date.now()) },
  ];
  const started = Date.now();
  while (Date.now() - started < 30_000) {
    const res = await postEvents(tenant.apiKey, probe);
    if ((res.refused === 'tenant_suspended') === suspended) return Date.now() - started;
    await sleep(200);
  }
  throw new Error(
    `ingestion still treats ${tenant.name} as ${suspended ? 'active' : 'suspended'} after 30 s`,
  );
}

async function usageOf(query) {
  return api('aggregation', 'GET', `/v1/usage?${new URLSearchParams(query)}`);
}

/** Waits until aggregation has stored `want[meter]` distinct events of the account in the period. */
async function untilStored(accountId, period, want, timeoutMs = 180_000) {
  const started = Date.now();
  let have = {};
  while (Date.now() - started < timeoutMs) {
    have = {};
    for (const meter of METERS) {
      const u = await usageOf({ meter, accountId, from: iso(period.startMs), to: iso(period.endMs) });
      have[meter] = u.events;
    }
    if (METERS.every((m) => have[m] === want[m])) return Date.now() - started;
    await sleep(1000);
  }
  throw new Error(`aggregation stored ${JSON.stringify(have)} events, expected ${JSON.stringify(want)}`);
}

// ── printing ─────────────────────────────────────────────────────────────────────────────────

const money = (m) => formatMinor(BigInt(m.minor), EXPONENT);
const qty = (text) => grouped(text);

function pricing(line) {
  if (!line.tiers?.length) return '';
  return line.tiers
    .map((t) => (t.packages ? `${t.packages} packages × ${t.unitPrice}` : `${qty(t.units)} × ${t.unitPrice}`))
    .join(' + ');
}

function printInvoice(invoice, names) {
  say(
    `  ${invoice.id}  ${invoice.periodStartDate ?? day(Date.parse(invoice.periodStart))} → ${invoice.periodEndDate ?? day(Date.parse(invoice.periodEnd))}  ${invoice.status}  ${invoice.currency}`,
  );
  const rows = invoice.lines.map((l) =>
    l.kind === 'base_fee'
      ? [l.description, '', '', '', '', money(l.amount)]
      : [
          l.kind === 'usage' ? l.meterKey : `${l.meterKey} (adjustment)`,
          qty(l.pooled ?? ''),
          qty(l.included ?? ''),
          qty(l.overage ?? ''),
          pricing(l),
          money(l.amount),
        ],
  );
  say(
    table(
      ['line', 'pooled', 'included', 'overage', 'pricing (overage units × unit price)', 'amount'],
      [...rows, null, ['total', '', '', '', '', money(invoice.total)]],
      'lrrrlr',
    ),
  );

  // Per-tenant attribution: each usage line's sub-lines, one row per tenant.
  const usageLines = invoice.lines.filter((l) => l.kind !== 'base_fee');
  const byTenant = new Map();
  usageLines.forEach((l, i) => {
    for (const s of l.attribution) {
      if (!byTenant.has(s.tenantId)) byTenant.set(s.tenantId, []);
      byTenant.get(s.tenantId)[i] = s;
    }
  });
  const header = [
    'tenant',
    ...usageLines.flatMap((l) => [
      l.meterKey === 'pcc' ? 'pcc@peak' : l.meterKey.replace('_minutes', ' min'),
      'USD',
    ]),
    'total',
  ];
  const rows2 = [...byTenant]
    .map(([tenantId, subs]) => {
      const total = subs.reduce((s, x) => s + BigInt(x?.amount.minor ?? 0), 0n);
      return [
        names.get(tenantId) ?? tenantId,
        ...usageLines.flatMap((_, i) => [
          qty(subs[i]?.quantity ?? '–'),
          subs[i] ? money(subs[i].amount) : '–',
        ]),
        formatMinor(total, EXPONENT),
      ];
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const sums = [
    'sum of sub-lines',
    ...usageLines.flatMap((l) => [
      '',
      formatMinor(
        l.attribution.reduce((s, x) => s + BigInt(x.amount.minor), 0n),
        EXPONENT,
      ),
    ]),
  ];
  sums.push(
    formatMinor(
      usageLines.reduce((s, l) => s + l.attribution.reduce((a, x) => a + BigInt(x.amount.minor), 0n), 0n),
      EXPONENT,
    ),
  );
  say(
    "\n  Attribution: each tenant's part of every usage line (its usage; for pcc its connections in the peak minute)",
  );
  say(table(header, [...rows2, null, sums], 'l' + 'r'.repeat(header.length - 1)));
}

// ── the invoice check ────────────────────────────────────────────────────────────────────────

/** Compares billing's invoice with the demo's own computation; returns the differences. */
function compare(invoice, expected, names) {
  const diffs = [];
  const eq = (what, got, want) => {
    if (String(got) !== String(want)) diffs.push(`${what}: invoice ${got}, demo ${want}`);
  };
  eq('currency', invoice.currency, 'USD');
  const base = invoice.lines.filter((l) => l.kind === 'base_fee');
  eq('base fee lines', base.length, 1);
  if (base[0]) eq('base fee', BigInt(base[0].amount.minor), expected.baseFee);
  const other = invoice.lines.filter((l) => l.kind !== 'base_fee' && l.kind !== 'usage');
  eq('adjustment lines', other.length, 0);
  let compared = 2;
  for (const want of expected.lines) {
    const line = invoice.lines.find((l) => l.kind === 'usage' && l.meterKey === want.meterKey);
    if (!line) {
      diffs.push(`${want.meterKey}: no usage line`);
      continue;
    }
    const m = want.meterKey;
    eq(`${m} pooled`, formatNano(toNano(line.pooled)), formatNano(want.pooled));
    eq(`${m} included`, formatNano(toNano(line.included)), formatNano(want.included));
    eq(`${m} overage`, formatNano(toNano(line.overage)), formatNano(want.overage));
    eq(
      `${m} tiers`,
      (line.tiers ?? []).map((t) => `${t.tier}:${formatNano(toNano(t.units))}`).join(' '),
      want.tiers.map((t) => `${t.tier}:${formatNano(t.units)}`).join(' '),
    );
    eq(`${m} amount`, BigInt(line.amount.minor), want.amount);
    compared += 6;
    const got = new Map(line.attribution.map((s) => [s.tenantId, s]));
    eq(
      `${m} tenants`,
      [...got.keys()].sort().join(','),
      want.attribution
        .map((a) => a.tenantId)
        .sort()
        .join(','),
    );
    for (const a of want.attribution) {
      const s = got.get(a.tenantId);
      if (!s) continue;
      const who = names.get(a.tenantId) ?? a.tenantId;
      eq(`${m} ${who} quantity`, formatNano(toNano(s.quantity)), formatNano(a.quantity));
      eq(`${m} ${who} amount`, BigInt(s.amount.minor), a.amount);
      compared += 2;
    }
  }
  eq('total', BigInt(invoice.total.minor), expected.total);
  return { diffs, compared: compared + 1 };
}

// ── the scenario ─────────────────────────────────────────────────────────────────────────────

async function main() {
  const nowMs = Date.now();
  say('Metering platform demo: a vendor on a pooled plan, 25 tenants, one month of usage billed and checked');

  // 1. Catalog and plan.
  const meters = new Map((await api('aggregation', 'GET', '/v1/meters')).meters.map((m) => [m.key, m]));
  const plan = await ensurePlan();

  // 2. Account, subscription, tenants, keys.
  const { account, how: accountHow } = await ensureAccount(nowMs);
  const { subscription, how: subscriptionHow } = await ensureSubscription(account, plan, nowMs);
  if (subscription.timezone !== 'UTC')
    throw new Error(`the demo's subscription is in ${subscription.timezone}, expected UTC`);
  const anchorDay = subscription.anchorDay;
  const { current, last, fits } = demoMonth(anchorDay, nowMs);
  if (!fits)
    throw new Error(
      `the period ${day(last.startMs)} → ${day(last.endMs)} no longer fits ingestion's lateness window`,
    );
  if (subscription.startMs > last.startMs) throw new Error('the subscription starts within the demo month');
  const phase = [...subscription.phases].reverse().find((p) => p.effectiveFromMs < last.endMs);
  const billedPlan =
    plan.plan.versions.find((v) => v.version === phase.planVersion) ??
    (await api('billing', 'GET', `/v1/plans/${phase.planId}/versions/${phase.planVersion}`));
  const days = Math.round((last.endMs - last.startMs) / DAY_MS);
  const mid = Math.floor(days / 2);

  section('Setup (billing, registry)');
  say(
    table(
      ['what', '', 'state'],
      [
        [
          'plan',
          `${PLAN_ID} v${plan.version}: ${PLAN.currency} ${PLAN.baseFee}/month, pooled mau/pcc/voice/video, grace ${GRACE_HOURS} h`,
          plan.how,
        ],
        ['account', `${account.name}  ${account.id}`, accountHow],
        [
          'subscription',
          `${phase.planId} v${phase.planVersion} since ${day(subscription.startMs)}, anchor day ${anchorDay}, UTC`,
          subscriptionHow,
        ],
        [
          'demo month',
          `${day(last.startMs)} → ${day(last.endMs)} (${days} days; its first day is ${((nowMs - last.startMs) / DAY_MS).toFixed(1)} days old, the lateness window 35)`,
          'last complete period',
        ],
      ],
    ),
  );

  const { template, templateHow, tenants, created } = await ensureTenants(account.id);
  const issued = await ensureKeys(tenants);
  const names = new Map(tenants.map((t) => [t.id, t.name]));
  const byName = new Map(tenants.map((t) => [t.name, t]));
  say(
    `\n  template "${template.name}" (${templateHow}); tenants: ${created ? `${created} created in one bulk call` : 'all 25 found again'}; ingest keys: ${issued ? `${issued} issued` : 'reused'}`,
  );
  say(
    table(
      [
        'tenant',
        'id',
        'size',
        'region',
        'status',
        'maxAgents',
        'maxWidgets',
        'diskQuotaMb',
        'maxConcurrentAV',
      ],
      tenants.map((t) => [
        t.name,
        t.id,
        t.size,
        t.region,
        t.status,
        t.limits.maxAgents,
        t.limits.maxWidgets,
        grouped(t.limits.diskQuotaMb),
        t.limits.maxConcurrentAV,
      ]),
      'lllllrrrr',
    ),
  );

  // 3. Producers: the month, day by day.
  section(
    `Usage of ${day(last.startMs)} → ${day(last.endMs)} sent day by day, each tenant with its own ingest key`,
  );
  const month = newTally();
  const suspended = byName.get(SUSPENDED);
  const expectedEvents = new Map(METERS.map((m) => [m, []]));
  const record = (tenant, e) =>
    expectedEvents.get(METER_OF[e.type]).push({
      tenantId: tenant.id,
      timeMs: Date.parse(e.time),
      subject: e.subject,
      value:
        e.type === 'connections.sampled' ? toNano(String(e.data.concurrent)) : e.text ? toNano(e.text) : 0n,
    });
  for (const t of tenants)
    for (let d = 0; d < days; d++)
      if (t !== suspended || d < mid) dayEvents(t.spec, last, d).forEach((e) => record(t, e));

  // A tenant suspended by an earlier run of this month has its first half on record already.
  let skipSuspendedFirstHalf = false;
  if (suspended.status === 'suspended') {
    // Counted without pcc: GET /v1/usage with a tenantId answers 500 for MAX meters (the bucket-sum
    // rollup has no tenant column); the pcc samples went in the same requests as the rest.
    const counted = METERS.filter((m) => m !== 'pcc');
    const before = Array.from({ length: mid }, (_, d) => dayEvents(suspended.spec, last, d))
      .flat()
      .filter((e) => counted.includes(METER_OF[e.type])).length;
    let stored = 0;
    for (const meter of counted)
      stored += (
        await usageOf({
          meter,
          tenantId: suspended.id,
          from: iso(last.startMs),
          to: iso(last.startMs + mid * DAY_MS),
        })
      ).events;
    if (stored === before) skipSuspendedFirstHalf = true;
    else {
      await api('registry', 'POST', `/v1/tenants/${suspended.id}/resume`, { body: {} });
      await untilIngestionSees(suspended, false);
      suspended.status = 'active';
      say(`  ${SUSPENDED} was suspended with its first half-month missing: resumed to send it`);
    }
  }
  let suspendNote;
  for (let d = 0; d < days; d++) {
    if (d === mid && suspended.status !== 'suspended') {
      await api('registry', 'POST', `/v1/tenants/${suspended.id}/suspend`, {
        body: { reason: 'demo: unpaid invoice' },
      });
      const ms = await untilIngestionSees(suspended, true);
      suspended.status = 'suspended';
      suspendNote = `suspended through the registry before day ${d + 1} (${day(last.startMs + d * DAY_MS)}); ingestion refused it ${ms} ms later`;
    }
    await Promise.all(
      tenants.map((t) =>
        t === suspended && d < mid && skipSuspendedFirstHalf
          ? undefined
          : produce(t, dayEvents(t.spec, last, d), month),
      ),
    );
  }
  suspendNote ??= `suspended by an earlier run before day ${mid + 1}; its ${grouped(month.refused)} later events refused again`;

  // A producer retry, one event straight to Kafka, and today's first traffic.
  const retry = newTally();
  await produce(byName.get(RETRIED), dayEvents(byName.get(RETRIED).spec, last, 3), retry);
  const direct = directEvent(byName.get(DIRECT).spec, last, byName.get(DIRECT).id);
  await publishDirect([direct]);
  record(byName.get(DIRECT), direct);
  const today = newTally();
  const currentExpected = new Map(METERS.map((m) => [m, []]));
  for (const t of tenants) {
    if (t === suspended) continue;
    const events = currentEvents(t.spec, current, Date.now());
    await produce(t, events, today);
    for (const e of events)
      currentExpected.get(METER_OF[e.type]).push({
        tenantId: t.id,
        timeMs: Date.parse(e.time),
        subject: e.subject,
        value: e.data.concurrent !== undefined ? toNano(String(e.data.concurrent)) : 0n,
      });
  }
  const row = (what, t) => [
    what,
    grouped(t.sent),
    grouped(t.accepted),
    grouped(t.duplicates),
    grouped(t.refused),
    t.rejected.length,
  ];
  say(
    table(
      ['request', 'events', 'accepted', 'duplicate', 'refused', 'rejected'],
      [
        row(`REST, ${days} days × 25 producers`, month),
        row(`retry: ${RETRIED} re-sends day 4`, retry),
        ['Kafka usage.ingest.v1 (tenantid)', 1, '(async)', '', '', ''],
        row('REST, current period so far', today),
      ],
      'lrrrrr',
    ),
  );
  say(`  ${SUSPENDED}: ${suspendNote}; refused: ${[...month.refusedWith].join(', ') || '–'}`);
  const wantRefused = Array.from({ length: days - mid }, (_, i) =>
    dayEvents(suspended.spec, last, mid + i),
  ).flat().length;
  const rejected = [...month.rejected, ...retry.rejected, ...today.rejected];
  if (rejected.length) problems.push(`ingestion rejected events: ${JSON.stringify(rejected.slice(0, 3))}`);
  if (month.refused !== wantRefused || [...month.refusedWith].join() !== 'tenant_suspended')
    problems.push(
      `refused ${month.refused} events (${[...month.refusedWith]}), expected ${wantRefused} (tenant_suspended)`,
    );
  if (retry.duplicates !== retry.sent)
    problems.push(`the retry's ${retry.sent} events gave ${retry.duplicates} duplicates`);

  // Aggregation has the month once every event is stored (the late call may be there from an earlier run).
  const late = lateEvent(byName.get(LATE).spec, last);
  const want = Object.fromEntries(METERS.map((m) => [m, expectedEvents.get(m).length]));
  const lateTenant = byName.get(LATE);
  const lateVoice = expectedEvents.get('voice_minutes').filter((e) => e.tenantId === lateTenant.id).length;
  const lateStored =
    (
      await usageOf({
        meter: 'voice_minutes',
        tenantId: lateTenant.id,
        from: iso(last.startMs),
        to: iso(last.endMs),
      })
    ).events > lateVoice;
  const waited = await untilStored(account.id, last, {
    ...want,
    voice_minutes: want.voice_minutes + (lateStored ? 1 : 0),
  });
  // The event sent to Kafka is among them: its tenant's video calls are all there.
  const directTenant = byName.get(DIRECT);
  const directWant = expectedEvents.get('video_minutes').filter((e) => e.tenantId === directTenant.id).length;
  const directHave = (
    await usageOf({
      meter: 'video_minutes',
      tenantId: directTenant.id,
      from: iso(last.startMs),
      to: iso(last.endMs),
    })
  ).events;
  if (directHave !== directWant)
    problems.push(`${DIRECT} has ${directHave} video calls stored, expected ${directWant}`);
  say(
    `  aggregation: ${grouped(Object.values(want).reduce((a, b) => a + b, 0) + (lateStored ? 1 : 0))} distinct events of the month stored in ClickHouse, the Kafka one included (waited ${(waited / 1000).toFixed(1)} s)`,
  );

  // 4. Billing: close the period, a late call within grace, re-rate, finalize.
  section('Billing');
  const runBilling = async () => {
    const res = await api('billing', 'POST', '/v1/billing-runs', {
      body: { asOf: iso(Date.now()), accountId: account.id },
    });
    const got = res.accounts[0]?.invoices ?? [];
    return got.length
      ? got.map((i) => `${i.periodStart} ${i.outcome} (${i.status})`).join(', ')
      : 'nothing to do (invoices final)';
  };
  say(`  run 1 (asOf now, after the period end): ${await runBilling()}`);
  const invoices = (await api('billing', 'GET', `/v1/accounts/${account.id}/invoices`)).invoices;
  let invoice = invoices.find((i) => i.periodStart === iso(last.startMs));
  if (!invoice) throw new Error(`billing drafted no invoice for ${day(last.startMs)}`);
  const lateTally = newTally();
  await produce(byName.get(LATE), [late], lateTally);
  record(byName.get(LATE), late);
  say(
    `  late call of ${LATE} (ended ${minute(Date.parse(late.time))} UTC, inside the period) sent now, invoice ${invoice.status}, grace until ${minute(Date.parse(invoice.graceUntil))} UTC: ${lateTally.accepted ? 'accepted' : lateTally.duplicates ? 'duplicate (sent by an earlier run)' : 'NOT accepted'}`,
  );
  if (lateTally.accepted + lateTally.duplicates !== 1)
    problems.push(`the late event was not accepted: ${JSON.stringify(lateTally)}`);
  await untilStored(account.id, last, { ...want, voice_minutes: want.voice_minutes + 1 });
  say(`  run 2: ${await runBilling()}`);
  const finalized = await call('billing', 'POST', `/v1/invoices/${invoice.id}/finalize`, { expect: [409] });
  say(
    finalized.status === 200
      ? `  finalize ${invoice.id}: finalized`
      : `  finalize ${invoice.id}: ${finalized.status} ${finalized.body.error.code} (finalized by an earlier run, left as it is)`,
  );
  invoice = await api('billing', 'GET', `/v1/invoices/${invoice.id}`);
  if (invoice.status !== 'finalized')
    problems.push(`invoice ${invoice.id} is ${invoice.status}, not finalized`);

  section(`Invoice of ${account.name}`);
  printInvoice(invoice, names);

  // The demo's own computation from what it sent.
  const expected = expectedInvoice(billedPlan, meters, expectedEvents, EXPONENT);
  const { diffs, compared } = compare(invoice, expected, names);
  const pcc = expected.lines.find((l) => l.meterKey === 'pcc');
  const sumOfPeaks = pcc.usage.tenants.reduce((s, t) => s + t.usage, 0n);
  const pccApi = await usageOf({
    meter: 'pcc',
    accountId: account.id,
    from: iso(last.startMs),
    to: iso(last.endMs),
  });
  if (pccApi.peakBucketStart !== iso(pcc.usage.peakBucketMs))
    diffs.push(`pcc peak bucket: aggregation ${pccApi.peakBucketStart}, demo ${iso(pcc.usage.peakBucketMs)}`);
  say(
    `\n  pcc: pooled peak ${formatNano(pcc.pooled)} in the minute ${minute(pcc.usage.peakBucketMs)} UTC, while the tenants' own peaks add up to ${grouped(formatNano(sumOfPeaks))}: billing the sum would charge ${grouped(formatNano(sumOfPeaks - pcc.pooled))} connections too many`,
  );
  if (diffs.length) {
    problems.push(
      `the invoice differs from the demo's own computation in ${diffs.length} of ${compared} figures`,
    );
    say(
      `  ✗ the invoice differs from the demo's own computation:\n${diffs.map((d) => `      ${d}`).join('\n')}`,
    );
  } else {
    say(
      `  ✓ invoice = the demo's own computation (${compared} figures: base fee, pooled/included/overage/tiers/amount per meter, every tenant sub-line, total)`,
    );
  }

  // 5. Audit and quotas.
  section('Audit');
  const verify = await api('audit', 'GET', `/v1/audit/verify?accountId=${account.id}`);
  const entries = await api('audit', 'GET', `/v1/audit?accountId=${account.id}&limit=1000`);
  const actions = {};
  for (const e of entries.entries) actions[e.action] = (actions[e.action] ?? 0) + 1;
  if (verify.ok) {
    say(
      `  GET /v1/audit/verify: ok, ${verify.entries} entries chained, head #${verify.head.seq} ${verify.head.hash.slice(0, 16)}…, signed ${verify.signedHead.algorithm} (key ${verify.signedHead.keyId})`,
    );
  } else {
    problems.push(`audit chain broken: ${JSON.stringify(verify.firstBroken)}`);
    say(`  ✗ GET /v1/audit/verify: ${JSON.stringify(verify.firstBroken)}`);
  }
  say(
    `  ${entries.nextCursor ? 'latest 1,000' : 'all'} entries by action: ${Object.entries(actions)
      .map(([a, n]) => `${a} ${n}`)
      .join(', ')}`,
  );

  section(`Quotas of the current period ${day(current.startMs)} → ${day(current.endMs)} (aggregation)`);
  const wantNow = new Map(
    METERS.map((m) => [m, formatNano(pool(meters.get(m), currentExpected.get(m)).pooled)]),
  );
  let quotas;
  for (const started = Date.now(); Date.now() - started < 30_000; await sleep(1000)) {
    const res = await call('aggregation', 'GET', `/v1/accounts/${account.id}/quotas`, { expect: [404] });
    quotas = res.status === 200 ? res.body : undefined;
    if (
      quotas?.meters.every(
        (m) => !wantNow.has(m.meter) || formatNano(toNano(m.used)) === wantNow.get(m.meter),
      )
    )
      break;
  }
  if (!quotas) problems.push('aggregation has no quotas for the account (no_subscription)');
  else {
    say(
      table(
        ['meter', 'included', 'used', 'remaining', 'overage', '% used', 'expected used'],
        quotas.meters.map((m) => [
          m.meter,
          qty(m.included),
          qty(m.used),
          qty(m.remaining),
          qty(m.overage),
          m.percentUsed,
          qty(wantNow.get(m.meter) ?? ''),
        ]),
        'lrrrrrr',
      ),
    );
  }

  section('Where things are');
  const a = account.id;
  say(
    `  Finance dashboard: ${SERVICES.dashboard}/#account=${a}\n  (sign in with a management key: ADMIN_KEY in .stack/env, or an owner/viewer key of the account)\n`,
  );
  say('  The REST APIs it reads (Authorization: Bearer <management key>):');
  say(
    table(
      ['what', 'URL'],
      [
        [
          'API docs',
          Object.entries(SERVICES)
            .filter(([name]) => name !== 'dashboard')
            .map(([, u]) => `${u}/docs`)
            .join('  '),
        ],
        ['tenants', `${SERVICES.registry}/v1/accounts/${a}/tenants`],
        [
          'usage by day',
          `${SERVICES.aggregation}/v1/usage?accountId=${a}&meter=pcc&from=${iso(last.startMs)}&to=${iso(last.endMs)}&window=day`,
        ],
        ['quotas', `${SERVICES.aggregation}/v1/accounts/${a}/quotas`],
        ['invoices', `${SERVICES.billing}/v1/accounts/${a}/invoices  (CSV: …/invoices.csv)`],
        ['this invoice', `${SERVICES.billing}/v1/invoices/${invoice.id}`],
        ['upcoming', `${SERVICES.billing}/v1/accounts/${a}/upcoming-invoice`],
        ['audit log', `${SERVICES.audit}/v1/audit?accountId=${a}  (verify: /v1/audit/verify?accountId=${a})`],
      ],
    ),
  );

  if (problems.length) {
    say(
      `\n✗ demo finished with ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    process.exitCode = 1;
  } else say('\n✓ demo finished: every check passed');
}

main().catch((err) => {
  console.error(`\n✗ demo failed: ${err instanceof ApiError ? err.message : (err.stack ?? err)}`);
  process.exit(1);
});
