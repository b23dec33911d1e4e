/// <reference lib="dom" />
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { BillingCalendar } from '@metering/billing-math';
import {
  api,
  apiCallEvent,
  eventually,
  postEvents,
  provisionTenants,
  serviceUrl,
  stackVar,
  uniqueName,
  untilUsageEvents,
  workspaceRoot,
  type ProvisionedAccount,
} from '@metering/testing';

/** Screenshots and the downloaded CSV, kept as CI artefacts. */
const ARTIFACTS = path.join(workspaceRoot, 'apps/platform-e2e/artifacts/dashboard');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const dashboard = serviceUrl('dashboard');
const registry = serviceUrl('tenant-registry');
const aggregation = serviceUrl('aggregation');
const billing = serviceUrl('billing');
const audit = serviceUrl('audit');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

// The account is billed for a period that ended recently (anchor two days ago) and has usage in
// the current one, as in billing.e2e-spec.ts.
const anchorDay = Math.min(new Date(Date.now() - 2 * 24 * HOUR).getUTCDate(), 28);
const calendar = new BillingCalendar({ anchorDay, timeZone: 'UTC' });
const last = calendar.previous(calendar.periodAt(Date.now()));

/** API calls per tenant: in the last (invoiced) period, and in the current one. */
const CALLS_LAST = [6, 3, 1];
const CALLS_NOW = [4, 2, 1];
/**
 * Connections per tenant in two consecutive one-minute buckets: the account's busiest bucket
 * holds 10 + 2 + 3 = 15, while the tenants' own peaks add up to 10 + 8 + 3 = 21.
 */
const CONNECTIONS = [
  [10, 1],
  [2, 8],
  [3, 3],
];

describe('finance dashboard in headless Chromium', () => {
  const admin = stackVar('ADMIN_KEY');
  let a: ProvisionedAccount;
  let other: ProvisionedAccount;
  let viewerKey: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const planId = uniqueName('dash').toLowerCase();

  const asViewer = <T = any>(base: string, route: string) => api<T>(base, 'GET', route, { key: viewerKey });

  /** A chart's segments are GET /v1/usage's contributions for the range it shows; returns that answer. */
  async function chartAsAggregationAnswers(box: Locator, meter: string) {
    const shown = await chartOnPage(box);
    expect(shown.meter).toBe(meter);
    const { body: usage } = await asViewer(aggregation, `/v1/usage?${shown.query}`);
    expect(shown.drawn).toEqual(contributionsOf(usage));
    return usage;
  }

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [a, other] = await Promise.all([provisionTenants(3), provisionTenants(1)]);
    viewerKey = (
      await api<{ secret: string }>(registry, 'POST', `/v1/accounts/${a.accountId}/management-keys`, {
        key: a.ownerKey,
        body: { role: 'viewer' },
      })
    ).body.secret;
    for (const [i, t] of a.tenants.entries()) {
      const limits = await api(registry, 'PUT', `/v1/tenants/${t.tenantId}/limits`, {
        key: a.ownerKey,
        body: { limits: { maxAgents: 5 * (i + 1), diskQuotaMb: 1024 * (i + 1) } },
      });
      expect(limits.status).toBe(200);
    }
    const plan = await api(billing, 'POST', '/v1/plans', {
      key: admin,
      body: {
        id: planId,
        name: 'Dashboard e2e',
        currency: 'USD',
        baseFee: '10.00',
        meters: [
          { meterKey: 'api_calls', included: '4', overage: { type: 'PER_UNIT', unitPrice: '0.50' } },
          { meterKey: 'pcc', included: '20', overage: { type: 'PER_UNIT', unitPrice: '1.00' } },
          { meterKey: 'voice_minutes', included: '100', overage: { type: 'PER_UNIT', unitPrice: '0.05' } },
        ],
        gracePeriodHours: 35 * 24,
      },
    });
    expect(plan.status).toBe(201);
    const subscription = await api(billing, 'PUT', `/v1/accounts/${a.accountId}/subscription`, {
      key: a.ownerKey,
      body: { planId, planVersion: 1, startAt: new Date(last.startMs).toISOString(), anchorDay },
    });
    expect(subscription.status).toBe(200);

    const inLast = new Date(last.endMs - HOUR).toISOString();
    const now = new Date(Date.now() - 30 * MINUTE).toISOString();
    const bucket = Math.floor((Date.now() - 90 * MINUTE) / MINUTE) * MINUTE;
    for (const [i, t] of a.tenants.entries()) {
      const events = [
        ...Array.from({ length: CALLS_LAST[i] }, () => apiCallEvent({ time: inLast })),
        ...Array.from({ length: CALLS_NOW[i] }, () => apiCallEvent({ time: now })),
        ...CONNECTIONS[i].map((concurrent, minute) =>
          apiCallEvent({
            type: 'connections.sampled',
            time: new Date(bucket + minute * MINUTE + 5_000).toISOString(),
            data: { concurrent },
          }),
        ),
      ];
      const sent = await postEvents(serviceUrl('ingestion'), events, t.apiKey);
      expect(sent.body).toMatchObject({ accepted: events.length, rejected: [] });
    }
    await Promise.all(
      a.tenants.flatMap((t, i) => [
        untilUsageEvents(t.tenantId, CALLS_LAST[i] + CALLS_NOW[i]),
        untilUsageEvents(t.tenantId, 2, 'pcc'),
      ]),
    );
    // Suspended after its usage: the tenant list shows it, its usage still counts.
    const suspended = await api(registry, 'POST', `/v1/tenants/${a.tenants[2].tenantId}/suspend`, {
      key: a.ownerKey,
      body: { reason: 'unpaid' },
    });
    expect(suspended.status).toBe(201);
    await eventually(
      async () =>
        (await asViewer(aggregation, `/v1/accounts/${a.accountId}/quotas`)).body?.planId === planId
          ? true
          : undefined,
      { timeoutMs: 30_000, what: 'the subscription in aggregation' },
    );
    const run = await api(billing, 'POST', '/v1/billing-runs', {
      key: admin,
      body: { asOf: new Date().toISOString(), accountId: a.accountId },
    });
    expect(run.status).toBe(200);
    // The audit trail has caught up with what the setup did once it holds its last actions.
    await eventually(
      async () => {
        const { body } = await asViewer(audit, `/v1/audit?accountId=${a.accountId}&limit=1000`);
        const actions = new Set((body.entries as { action: string }[]).map((e) => e.action));
        return ['tenant.suspended', 'invoice.drafted', 'quota.threshold_crossed'].every((x) => actions.has(x))
          ? true
          : undefined;
      },
      { timeoutMs: 60_000, what: 'the setup in the audit log' },
    );

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    await page.goto(dashboard);
    await page.fill('#key-input', viewerKey);
    await page.click('#key-form button[type=submit]');
    await settled(page);
  });

  afterAll(async () => {
    if (page) await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    await browser?.close();
  });

  it("opens the key's own account and renders every view", async () => {
    expect(await page.$eval('#account-select', (s) => (s as HTMLSelectElement).value)).toBe(a.accountId);
    const states = await page.$$eval('section[data-view]', (sections) =>
      sections.map((s) => [
        s.getAttribute('data-view'),
        s.getAttribute('data-state'),
        s.querySelector('.error')?.textContent,
      ]),
    );
    expect(states).toEqual(
      ['quotas', 'usage', 'peak', 'invoices', 'tenants', 'audit'].map((v) => [v, 'ready', '']),
    );
  });

  it('shows pooled quota gauges per meter as aggregation reports them, drawn with data', async () => {
    const { body: quotas } = await asViewer(aggregation, `/v1/accounts/${a.accountId}/quotas`);
    const cards = await page.$$eval('section[data-view=quotas] article.quota', (els) =>
      els.map((el) => ({
        meter: el.getAttribute('data-meter'),
        used: el.getAttribute('data-used'),
        included: el.getAttribute('data-included'),
        overage: el.getAttribute('data-overage'),
        percentUsed: el.getAttribute('data-percent'),
      })),
    );
    expect(cards).toEqual(
      quotas.meters.map((m: any) => ({
        meter: m.meter,
        used: m.used,
        included: m.included,
        overage: m.overage,
        percentUsed: m.percentUsed,
      })),
    );
    // 4 + 2 + 1 calls of 4 included; a pooled peak of 15 of 20; no voice minutes.
    expect(cards).toEqual([
      expect.objectContaining({ meter: 'api_calls', used: '7', overage: '3', percentUsed: '175.00' }),
      expect.objectContaining({ meter: 'pcc', used: '15', overage: '0', percentUsed: '75.00' }),
      expect.objectContaining({ meter: 'voice_minutes', used: '0', percentUsed: '0.00' }),
    ]);
    await shot(page.locator('section[data-view=quotas]'), 'quotas.png');
    const gauge = async (meter: string) =>
      decodePng(await shot(page.locator(`.chart-box[data-meter=${meter}] svg.gauge`), `gauge-${meter}.png`));
    const STATE_COLOURS = ['#2f9e44', '#f08c00', '#e03131'];
    const counts = async (meter: string) => countColours(await gauge(meter), STATE_COLOURS);
    const [calls, peak, voice] = await Promise.all(['api_calls', 'pcc', 'voice_minutes'].map(counts));
    expect(calls['#e03131']).toBeGreaterThan(500);
    expect(peak['#2f9e44']).toBeGreaterThan(500);
    // 75 % of the arc for the peak: about three quarters of what a full arc covers.
    expect(peak['#2f9e44'] / calls['#e03131']).toBeGreaterThan(0.65);
    expect(peak['#2f9e44'] / calls['#e03131']).toBeLessThan(0.85);
    // The check fails on an empty gauge: nothing used, no value arc.
    expect(STATE_COLOURS.map((c) => voice[c])).toEqual([0, 0, 0]);
  });

  it('stacks usage over time by tenant as GET /v1/usage answers it, and the chart has the data', async () => {
    const box = page.locator('section[data-view=usage] .chart-box');
    const usage = await chartAsAggregationAnswers(box, 'api_calls');
    expect(await box.locator('.pooled').getAttribute('data-value')).toBe('7');
    expect(usage.value).toBe('7');
    const png = decodePng(await shot(box.locator('svg.chart'), 'usage-chart.png'));
    expectAreasProportional(png, await coloursOnPage(box), contributionsOf(usage));
  });

  it('fails the screenshot check on an empty chart', async () => {
    await page.selectOption('section[data-view=usage] select[name=meter]', 'video_minutes');
    await settled(page);
    const box = page.locator('section[data-view=usage] .chart-box');
    expect(await box.getAttribute('data-meter')).toBe('video_minutes');
    expect(await box.locator('svg.chart').getAttribute('data-empty')).toBe('true');
    const png = decodePng(await shot(box.locator('svg.chart'), 'usage-chart-empty.png'));
    const tenantColours = ['#4e79a7', '#f28e2b', '#59a14f'];
    expect(Object.values(countColours(png, tenantColours))).toEqual([0, 0, 0]);
    expect(() =>
      expectAreasProportional(
        png,
        Object.fromEntries(a.tenants.map((t, i) => [t.tenantId, tenantColours[i]])),
        {},
      ),
    ).toThrow(/no series drawn/);
    await page.selectOption('section[data-view=usage] select[name=meter]', 'api_calls');
    await settled(page);
  });

  it('shows the pooled peak below the sum of the tenants’ peaks, as aggregation computes them', async () => {
    const box = page.locator('section[data-view=peak] .chart-box');
    const usage = await chartAsAggregationAnswers(box, 'pcc');
    expect(usage.value).toBe('15');
    expect(usage.tenants.map((t: any) => t.usage).sort()).toEqual(['10', '3', '8']);
    expect(await box.locator('b.pooled-peak').getAttribute('data-value')).toBe('15');
    expect(await box.locator('b.sum-of-peaks').getAttribute('data-value')).toBe('21');
    const peaks = await box
      .locator('table.peaks tbody tr')
      .evaluateAll((rows) =>
        rows.map((r) => [
          r.getAttribute('data-tenant'),
          r.querySelector('.peak')?.textContent,
          r.querySelector('.at-pooled-peak')?.textContent,
        ]),
      );
    expect(peaks).toEqual([
      [a.tenants[0].tenantId, '10', '10'],
      [a.tenants[1].tenantId, '8', '2'],
      [a.tenants[2].tenantId, '3', '3'],
    ]);
    const png = decodePng(await shot(box.locator('svg.chart'), 'peak-chart.png'));
    expectAreasProportional(png, await coloursOnPage(box), contributionsOf(usage));
    // Both lines are drawn, the pooled peak (dark) below the sum of peaks (pink) on screen.
    const pooledRows = rowsWithColour(png, '#111827');
    const sumRows = rowsWithColour(png, '#d6336c');
    expect(pooledRows.length).toBeGreaterThan(0);
    expect(sumRows.length).toBeGreaterThan(0);
    expect(Math.min(...pooledRows)).toBeGreaterThan(Math.max(...sumRows));
  });

  it('shows the invoice with each tenant’s part as billing has it, and downloads the CSV', async () => {
    const { body } = await asViewer(billing, `/v1/accounts/${a.accountId}/invoices`);
    expect(body.invoices).toHaveLength(1);
    const [invoice] = body.invoices;
    expect(invoice.total.minor).toBe(1300);
    const shown = page.locator(`section[data-view=invoices] .invoice[data-invoice="${invoice.id}"]`);
    expect(await shown.locator('.total').getAttribute('data-minor')).toBe('1300');
    // The account's pool is billed, in the list and in the detail.
    expect(invoice.mode).toBe('pooled');
    expect(await shown.locator('.mode').getAttribute('data-mode')).toBe('pooled');
    expect(
      await page
        .locator(`section[data-view=invoices] tr[data-invoice="${invoice.id}"] .mode`)
        .getAttribute('data-mode'),
    ).toBe('pooled');
    const lines = await shown
      .locator('tr.line')
      .evaluateAll((rows) =>
        rows.map((r) => [
          r.getAttribute('data-kind'),
          r.getAttribute('data-meter'),
          r.querySelector('.amount')?.getAttribute('data-minor'),
        ]),
      );
    expect(lines).toEqual(invoice.lines.map((l: any) => [l.kind, l.meterKey ?? '', String(l.amount.minor)]));
    const parts = await shown
      .locator('tr.attribution')
      .evaluateAll((rows) =>
        rows.map((r) => [
          Number(r.getAttribute('data-line')),
          r.getAttribute('data-tenant'),
          r.querySelector('.quantity')?.textContent,
          r.querySelector('.amount')?.getAttribute('data-minor'),
        ]),
      );
    expect(parts).toEqual(
      invoice.lines.flatMap((l: any, i: number) =>
        l.attribution.map((s: any) => [i, s.tenantId, s.quantity, String(s.amount.minor)]),
      ),
    );
    // 10 calls pooled, 4 included: 6 × 0.50 = 3.00, split 6 : 3 : 1.
    const calls = invoice.lines.findIndex((l: any) => l.meterKey === 'api_calls');
    expect(
      Object.fromEntries(
        parts.filter(([line]) => line === calls).map(([, tenant, , minor]) => [tenant, minor]),
      ),
    ).toEqual({
      [a.tenants[0].tenantId]: '180',
      [a.tenants[1].tenantId]: '90',
      [a.tenants[2].tenantId]: '30',
    });
    await shot(page.locator('section[data-view=invoices]'), 'invoices.png');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('section[data-view=invoices] button.download-csv'),
    ]);
    expect(download.suggestedFilename()).toBe(`invoices-${a.accountId}.csv`);
    const file = path.join(ARTIFACTS, download.suggestedFilename());
    await download.saveAs(file);
    const res = await fetch(`${billing}/v1/accounts/${a.accountId}/invoices.csv`, {
      headers: { authorization: `Bearer ${viewerKey}` },
    });
    const csv = readFileSync(file, 'utf8');
    expect(csv).toBe(await res.text());
    expect(csv.trimEnd().split('\r\n')).toHaveLength(1 + invoice.lines.length + parts.length);
  });

  it('lists the tenants with their status and limits as the registry has them', async () => {
    const { body } = await asViewer(registry, `/v1/accounts/${a.accountId}/tenants`);
    const rows = await page.locator('section[data-view=tenants] tbody tr').evaluateAll((trs) =>
      trs.map((tr) => ({
        id: tr.getAttribute('data-tenant'),
        status: tr.getAttribute('data-status'),
        limits: Object.fromEntries(
          [...tr.querySelectorAll('.limit')].map((l) => [
            l.getAttribute('data-limit'),
            Number(l.getAttribute('data-value')),
          ]),
        ),
      })),
    );
    expect(rows).toEqual(body.items.map((t: any) => ({ id: t.id, status: t.status, limits: t.limits })));
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(a.tenants.map((t) => byId[t.tenantId].status)).toEqual(['active', 'active', 'suspended']);
    expect(byId[a.tenants[1].tenantId].limits).toEqual({ maxAgents: 10, diskQuotaMb: 2048 });
    await shot(page.locator('section[data-view=tenants]'), 'tenants.png');
  });

  it('shows the audit log and its verification as the audit service answers them', async () => {
    // Entries may still arrive (quota crossings): read the page and the API until they agree.
    const agreed = await eventually(
      async () => {
        const [shown, verify, list] = await Promise.all([
          auditOnPage(page),
          asViewer(audit, `/v1/audit/verify?accountId=${a.accountId}`),
          asViewer(audit, `/v1/audit?accountId=${a.accountId}&limit=50`),
        ]);
        const expected = {
          ok: String(verify.body.ok),
          entries: String(verify.body.entries),
          headSeq: String(verify.body.head.seq),
          rows: list.body.entries.map((e: any) => [String(e.seq), e.action]),
        };
        if (JSON.stringify(shown) === JSON.stringify(expected)) return shown;
        await page.reload();
        await settled(page);
        return undefined;
      },
      { timeoutMs: 60_000, what: 'the audit view to match the audit API' },
    );
    expect(agreed.ok).toBe('true');
    expect(agreed.rows.map(([, action]) => action)).toEqual(
      expect.arrayContaining([
        'tenant.suspended',
        'invoice.drafted',
        'subscription.changed',
        'tenant.limits_changed',
      ]),
    );
    await shot(page.locator('section[data-view=audit]'), 'audit.png');
  });

  it('lets a platform admin open any account by link', async () => {
    const admins = await context.browser()!.newContext();
    try {
      const adminPage = await admins.newPage();
      await adminPage.goto(`${dashboard}/#account=${a.accountId}`);
      await adminPage.fill('#key-input', admin);
      await adminPage.click('#key-form button[type=submit]');
      await settled(adminPage);
      expect(await adminPage.$eval('#account-select', (s) => (s as HTMLSelectElement).value)).toBe(
        a.accountId,
      );
      expect(
        await adminPage
          .locator('article.quota')
          .evaluateAll((els) => els.map((e) => e.getAttribute('data-used'))),
      ).toEqual(['7', '15', '0']);
    } finally {
      await admins.close();
    }
  });

  it('refuses a wrong key on the page', async () => {
    const fresh = await context.browser()!.newContext();
    try {
      const p = await fresh.newPage();
      await p.goto(dashboard);
      await p.fill('#key-input', 'mk_notakey_x');
      await p.click('#key-form button[type=submit]');
      await p.locator('#sign-in-error').waitFor({ state: 'visible' });
      expect(await p.textContent('#sign-in-error')).toMatch(/refused.*401/);
      expect(await p.isHidden('#views')).toBe(true);
    } finally {
      await fresh.close();
    }
  });

  describe('proxy', () => {
    const invoices = () => `/api/billing/v1/accounts/${a.accountId}/invoices`;

    it("adds no credential: without a key the service's 401 comes back", async () => {
      const res = await api(dashboard, 'GET', invoices());
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthenticated');
    });

    it("answers another account's key as the service does: not found", async () => {
      expect((await api(dashboard, 'GET', invoices(), { key: other.ownerKey })).status).toBe(404);
      expect((await api(dashboard, 'GET', invoices(), { key: viewerKey })).status).toBe(200);
    });

    it('reaches only the versioned APIs of the services it names, and only reads', async () => {
      const unknown = await api(dashboard, 'GET', '/api/ingestion/v1/events', { key: viewerKey });
      expect(unknown.status).toBe(404);
      expect(unknown.body.error).toMatchObject({ code: 'unknown_service', details: { field: 'service' } });
      const escaped = await api(dashboard, 'GET', '/api/audit/v1/%2e%2e/metrics', { key: viewerKey });
      expect(escaped.body.error).toMatchObject({ code: 'not_proxied', details: { field: 'path' } });
      const write = await api(dashboard, 'POST', '/api/billing/v1/billing-runs', { key: admin, body: {} });
      expect(write.status).toBe(404);
    });
  });
});

/** Waits until no view of the page is loading. */
async function settled(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const sections = [...document.querySelectorAll<HTMLElement>('section[data-view]')];
    const views = document.querySelector<HTMLElement>('#views')!;
    return !views.hidden && sections.every((s) => s.dataset.state && s.dataset.state !== 'loading');
  });
}

async function shot(locator: Locator, name: string): Promise<Buffer> {
  return locator.screenshot({ path: path.join(ARTIFACTS, name) });
}

type Contributions = Record<string, Record<string, string>>;

/** Non-zero contributions per window and tenant, as a usage answer gives them. */
function contributionsOf(usage: {
  windows: { from: string; tenants: { tenantId: string; contribution: string }[] }[];
}) {
  const out: Contributions = {};
  for (const w of usage.windows) {
    const parts = w.tenants.filter((t) => Number(t.contribution) !== 0);
    if (parts.length) out[w.from] = Object.fromEntries(parts.map((t) => [t.tenantId, t.contribution]));
  }
  return out;
}

/** The range a chart asked for and the segments it drew, per window and tenant. */
async function chartOnPage(box: Locator) {
  const [meter, from, to, window] = await Promise.all(
    ['data-meter', 'data-from', 'data-to', 'data-window'].map((a) => box.getAttribute(a)),
  );
  const accountId = await box.page().$eval('#account-select', (s) => (s as HTMLSelectElement).value);
  const drawn: Contributions = {};
  for (const [w, tenant, value] of await box
    .locator('svg.chart g.bar rect')
    .evaluateAll((rects) =>
      rects.map((r) => [
        r.parentElement!.getAttribute('data-window')!,
        r.getAttribute('data-tenant')!,
        r.getAttribute('data-value')!,
      ]),
    )) {
    (drawn[w] ??= {})[tenant] = value;
  }
  const query = new URLSearchParams({ meter: meter!, accountId, from: from!, to: to!, window: window! });
  return { meter, query: query.toString(), drawn };
}

/** The fill colour of each tenant's segments. */
async function coloursOnPage(box: Locator): Promise<Record<string, string>> {
  const pairs = await box
    .locator('svg.chart g.bar rect')
    .evaluateAll((rects) => rects.map((r) => [r.getAttribute('data-tenant')!, r.getAttribute('fill')!]));
  return Object.fromEntries(pairs);
}

async function auditOnPage(page: Page) {
  const section = page.locator('section[data-view=audit]');
  const verification = section.locator('.verification');
  return {
    ok: await verification.getAttribute('data-ok'),
    entries: await verification.getAttribute('data-entries'),
    headSeq: await verification.getAttribute('data-head-seq'),
    rows: await section
      .locator('tbody tr')
      .evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-seq'), r.getAttribute('data-action')])),
  };
}

/**
 * The screenshot check: each tenant's colour covers an area of the chart in proportion to its
 * total contribution (bars share one scale and width), within 10 % for pixel rounding. Throws
 * when no series pixel is drawn at all.
 */
function expectAreasProportional(
  png: Png,
  colours: Record<string, string>,
  contributions: Contributions,
): void {
  const pixels = countColours(png, Object.values(colours));
  const drawn = Object.values(pixels).reduce((a, b) => a + b, 0);
  if (drawn === 0) throw new Error('no series drawn: the chart is empty');
  const totals: Record<string, number> = {};
  for (const parts of Object.values(contributions))
    for (const [tenant, v] of Object.entries(parts)) totals[tenant] = (totals[tenant] ?? 0) + Number(v);
  const sum = Object.values(totals).reduce((a, b) => a + b, 0);
  for (const [tenant, colour] of Object.entries(colours)) {
    const share = pixels[colour] / drawn;
    expect({ tenant, share: Math.abs(share - (totals[tenant] ?? 0) / sum) < 0.1 }).toEqual({
      tenant,
      share: true,
    });
  }
}

// ---------------------------------------------------------------- PNG pixels (8-bit RGB/RGBA)

interface Png {
  width: number;
  height: number;
  /** [r, g, b] of a pixel. */
  rgb(x: number, y: number): [number, number, number];
}

/** Decodes the non-interlaced 8-bit RGB(A) PNGs Chromium's screenshots are. */
function decodePng(file: Buffer): Png {
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const data: Buffer[] = [];
  while (offset < file.length) {
    const length = file.readUInt32BE(offset);
    const type = file.toString('latin1', offset + 4, offset + 8);
    const chunk = file.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = chunk.readUInt32BE(0);
      height = chunk.readUInt32BE(4);
      const [depth, colourType, , , interlace] = chunk.subarray(8);
      if (depth !== 8 || interlace !== 0 || ![2, 6].includes(colourType))
        throw new Error(`unsupported PNG: depth ${depth}, colour type ${colourType}, interlace ${interlace}`);
      channels = colourType === 6 ? 4 : 3;
    } else if (type === 'IDAT') data.push(chunk);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * channels;
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const left = i >= channels ? pixels[y * stride + i - channels] : 0;
      const up = y > 0 ? pixels[(y - 1) * stride + i] : 0;
      const upLeft = y > 0 && i >= channels ? pixels[(y - 1) * stride + i - channels] : 0;
      const predictor = [0, left, up, (left + up) >> 1, paeth(left, up, upLeft)][filter];
      pixels[y * stride + i] = (line[i] + predictor) & 0xff;
    }
  }
  return {
    width,
    height,
    rgb: (x, y) => {
      const i = y * stride + x * channels;
      return [pixels[i], pixels[i + 1], pixels[i + 2]];
    },
  };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

const hexRgb = (hex: string): [number, number, number] =>
  [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
const near = (p: [number, number, number], q: [number, number, number]) =>
  p.every((v, i) => Math.abs(v - q[i]) <= 2);

/** How many pixels have each colour (±2 per channel). */
function countColours(png: Png, colours: string[]): Record<string, number> {
  const targets = colours.map((c) => [c, hexRgb(c)] as const);
  const counts = Object.fromEntries(colours.map((c) => [c, 0]));
  for (let y = 0; y < png.height; y++)
    for (let x = 0; x < png.width; x++) {
      const p = png.rgb(x, y);
      for (const [c, rgb] of targets) if (near(p, rgb)) counts[c]++;
    }
  return counts;
}

/** Rows of the image where the colour covers at least a tenth of the width (a horizontal line). */
function rowsWithColour(png: Png, colour: string): number[] {
  const rgb = hexRgb(colour);
  const rows: number[] = [];
  for (let y = 0; y < png.height; y++) {
    let n = 0;
    for (let x = 0; x < png.width; x++) if (near(png.rgb(x, y), rgb)) n++;
    if (n >= png.width / 10) rows.push(y);
  }
  return rows;
}
