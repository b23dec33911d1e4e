// What the demo plays: the vendor's plan, its 25 tenants, and a deterministic month of their usage.
// Everything here is a pure function of names and dates, so every run produces the same events
// with the same ids and payloads, and re-sending them adds nothing.
import { createHash } from 'node:crypto';

export const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

// ── billing calendar (UTC, anchor day ≤ 28, so no month clamps it) ───────────────────────────

const monthStart = (year, month, anchorDay) => Date.UTC(year, month, anchorDay);

/** The billing period `[startMs, endMs)` holding `t` for a monthly calendar anchored on `anchorDay`. */
export function periodAt(t, anchorDay) {
  const d = new Date(t);
  let [y, m] = [d.getUTCFullYear(), d.getUTCMonth()];
  if (t < monthStart(y, m, anchorDay)) [y, m] = m === 0 ? [y - 1, 11] : [y, m - 1];
  return { startMs: monthStart(y, m, anchorDay), endMs: monthStart(y, m + 1, anchorDay) };
}

export const previousPeriod = (p, anchorDay) => periodAt(p.startMs - 1, anchorDay);

export const day = (ms) => new Date(ms).toISOString().slice(0, 10);

// ── the plan ──────────────────────────────────────────────────────────────────────────────────

export const PLAN_ID = 'demo-growth';
export const GRACE_HOURS = 7 * 24;

/** The base plan: USD, a base fee, pooled allowances and overage prices for four meters. */
export const PLAN = {
  name: 'Growth (pooled)',
  currency: 'USD',
  interval: 'month',
  baseFee: '1499.00',
  meters: [
    {
      meterKey: 'mau',
      included: '1000',
      overage: {
        type: 'GRADUATED',
        tiers: [
          { upTo: '250', unitPrice: '0.40' },
          { upTo: '1000', unitPrice: '0.30' },
          { unitPrice: '0.20' },
        ],
      },
    },
    { meterKey: 'pcc', included: '400', overage: { type: 'PER_UNIT', unitPrice: '1.75' } },
    {
      meterKey: 'voice_minutes',
      included: '40000',
      overage: {
        type: 'GRADUATED',
        tiers: [{ upTo: '10000', unitPrice: '0.0125' }, { unitPrice: '0.0095' }],
      },
    },
    {
      meterKey: 'video_minutes',
      included: '25000',
      overage: { type: 'PACKAGE', packageSize: '500', packagePrice: '12.50' },
    },
  ],
  tenantLimits: { maxAgents: 25, maxWidgets: 5, diskQuotaMb: 10240, maxConcurrentAV: 20 },
  gracePeriodHours: GRACE_HOURS,
};

// ── tenants ───────────────────────────────────────────────────────────────────────────────────

export const TEMPLATE = {
  name: 'demo-standard-app',
  limits: { maxAgents: 25, maxWidgets: 5, diskQuotaMb: 10240, maxConcurrentAV: 20 },
  features: { aiAssist: true, webWidget: true },
  placement: { deploymentModel: 'multi-tenant', hosting: 'platform', cell: 'us-east-1' },
  retentionDays: 90,
};

const NAMES = [
  'acme-support',
  'globex-chat',
  'initech-helpdesk',
  'umbrella-care',
  'hooli-connect',
  'stark-voice',
  'wayne-concierge',
  'wonka-orders',
  'cyberdyne-fleet',
  'soylent-clinic',
  'tyrell-studio',
  'aperture-labs',
  'oscorp-sales',
  'vandelay-imports',
  'monarch-travel',
  'pied-piper',
  'dunder-mifflin',
  'massive-dynamic',
  'gringotts-bank',
  'ollivander-shop',
  'nakatomi-hr',
  'bluth-realty',
  'prestige-events',
  'vehement-capital',
  'sterling-cooper',
];

/** Each region's busiest hour of the day, UTC. */
const REGIONS = { amer: 18, emea: 12, apac: 4 };

/** Size classes: capability limits, user base, peak connections, calls a weekday. */
const SIZES = {
  S: {
    limits: { maxAgents: 10, maxWidgets: 2, diskQuotaMb: 2048, maxConcurrentAV: 5 },
    users: 24,
    peak: 14,
    voice: 3,
    video: 1,
  },
  M: { limits: {}, users: 60, peak: 40, voice: 8, video: 2 },
  L: {
    limits: { maxAgents: 120, maxWidgets: 25, diskQuotaMb: 102400, maxConcurrentAV: 80 },
    users: 150,
    peak: 110,
    voice: 20,
    video: 6,
  },
};

/** A number in [0, 1) from the hash of its parts: the demo's only source of variety. */
export function unit(...parts) {
  return createHash('sha256').update(parts.join('/')).digest().readUIntBE(0, 6) / 2 ** 48;
}

export const stableId = (...parts) => createHash('sha256').update(parts.join('/')).digest('hex').slice(0, 32);

export const TENANTS = NAMES.map((name, i) => {
  const size = 'SMLMS'[i % 5];
  const region = Object.keys(REGIONS)[i % 3];
  const spec = SIZES[size];
  // Every tenant's limits differ: its size class, and seats and widgets of its own.
  const limits = {
    ...spec.limits,
    maxAgents: (spec.limits.maxAgents ?? TEMPLATE.limits.maxAgents) + i,
    maxWidgets: (spec.limits.maxWidgets ?? TEMPLATE.limits.maxWidgets) + (i % 4),
  };
  const scale = 0.8 + 0.4 * unit(name, 'scale');
  return {
    name,
    size,
    region,
    limits,
    users: Math.round(spec.users * scale),
    peak: spec.peak * scale,
    voice: spec.voice * scale,
    video: spec.video * scale,
  };
});

// The scenario's special moments, by tenant.
export const SUSPENDED = 'wayne-concierge'; // suspended by its operator mid-month
export const RETRIED = 'acme-support'; // its producer re-sends a day after a timeout
export const DIRECT = 'globex-chat'; // its media server publishes straight to Kafka
export const LATE = 'initech-helpdesk'; // one of its calls reaches the platform after the period closed

// The vendor's own support staff log into every app: each app counts them (sum-of-tenants MAU).
const STAFF = ['vendor-support-1', 'vendor-support-2'];

// ── usage events ──────────────────────────────────────────────────────────────────────────────

const event = (tenant, periodTag, kind, n, type, timeMs, extra) => ({
  specversion: '1.0',
  id: stableId(tenant.name, periodTag, kind, ...n),
  source: `demo://${tenant.name}/${kind}`,
  type,
  time: new Date(timeMs).toISOString(),
  ...extra,
});

/** A duration in minutes with two decimals, as the JSON number sent and its exact decimal string. */
function minutes(hundredths) {
  const text = `${Math.floor(hundredths / 100)}.${String(hundredths % 100).padStart(2, '0')}`;
  return { value: Number(text), text };
}

/** A call of `hundredths` / 100 minutes; `text` carries the exact decimal for the demo's own sums. */
function callEvent(tenant, tag, kind, n, type, timeMs, hundredths, extra) {
  const m = minutes(hundredths);
  const e = event(tenant, tag, kind, n, type, timeMs, { ...extra, data: { minutes: m.value } });
  return Object.defineProperty(e, 'text', { value: m.text, enumerable: false });
}

/**
 * One tenant's events of one day of the period: users becoming active (mau, with subjects),
 * hourly connection samples (pcc gauge, peaking at the region's busy hour), voice and video calls.
 * `text` carries each call's minutes as an exact decimal string for the demo's own computation.
 */
export function dayEvents(tenant, period, dayIndex) {
  const tag = day(period.startMs);
  const dayStart = period.startMs + dayIndex * DAY_MS;
  const weekday = new Date(dayStart).getUTCDay();
  const busy = weekday === 0 || weekday === 6 ? 0.45 : 1;
  const peakHour = REGIONS[tenant.region];
  const events = [];
  // A time of this day (wrapping around midnight, so every event stays inside its day).
  const at = (hour, minute) => dayStart + ((((hour * 60 + minute) % 1440) + 1440) % 1440) * MINUTE_MS;

  for (let u = 0; u < tenant.users; u++) {
    // Some users come daily, most now and then; some not at all this month.
    const habit = unit(tenant.name, 'habit', u) ** 2;
    if (unit(tenant.name, tag, 'active', u, dayIndex) < habit * busy) {
      const minute = Math.floor(unit(tenant.name, tag, 'login', u, dayIndex) * 180);
      events.push(
        event(tenant, tag, 'app', [dayIndex, u], 'user.active', at(peakHour - 3, minute), {
          subject: `${tenant.name}-user-${u}`,
          data: { client: u % 3 ? 'web' : 'mobile' },
        }),
      );
    }
  }
  STAFF.forEach((subject, s) => {
    if ((dayIndex + s) % 7 === 0)
      events.push(
        event(tenant, tag, 'app', [dayIndex, subject], 'user.active', at(peakHour - 1, 7 + s), {
          subject,
          data: { client: 'web' },
        }),
      );
  });

  for (let hour = 0; hour < 24; hour++) {
    const distance = Math.min(Math.abs(hour - peakHour), 24 - Math.abs(hour - peakHour));
    const curve = Math.max(0.04, Math.exp(-(distance * distance) / 10));
    const jitter = 0.85 + 0.3 * unit(tenant.name, tag, 'pcc', dayIndex, hour);
    const concurrent = Math.round(tenant.peak * curve * busy * jitter);
    events.push(
      event(tenant, tag, 'gateway', [dayIndex, hour], 'connections.sampled', at(hour, 0), {
        data: { concurrent },
      }),
    );
  }

  for (const [kind, type, perDay, longest] of [
    ['voice', 'call.voice.completed', tenant.voice, 2400],
    ['video', 'call.video.completed', tenant.video, 6000],
  ]) {
    const calls = Math.floor(perDay * busy * (0.6 + 0.8 * unit(tenant.name, tag, kind, dayIndex)));
    for (let c = 0; c < calls; c++) {
      const hundredths = 30 + Math.floor(unit(tenant.name, tag, kind, dayIndex, c) * longest);
      const minute = Math.floor(unit(tenant.name, tag, kind, 'at', dayIndex, c) * 600);
      events.push(
        callEvent(tenant, tag, kind, [dayIndex, c], type, at(peakHour - 5, minute), hundredths, {
          subject: `agent-${c % 7}`,
        }),
      );
    }
  }
  return events;
}

/** The video call `DIRECT`'s media server publishes straight to usage.ingest.v1 (with `tenantid`). */
export const directEvent = (tenant, period, tenantId) =>
  callEvent(
    tenant,
    day(period.startMs),
    'media-server',
    ['direct'],
    'call.video.completed',
    period.startMs + 19 * DAY_MS + 15 * HOUR_MS,
    4217,
    { tenantid: tenantId, subject: 'agent-kafka' },
  );

/** A voice call that ended 95 minutes before the period's end, delivered after the period closed. */
export const lateEvent = (tenant, period) =>
  callEvent(
    tenant,
    day(period.startMs),
    'voice',
    ['late'],
    'call.voice.completed',
    period.endMs - 95 * MINUTE_MS,
    1250,
    {
      subject: 'agent-late',
    },
  );

/**
 * Traffic of the current period so far, for the quota view: the first hour after its start
 * (only what is already in the past), a few users and a connection sample per tenant.
 */
export function currentEvents(tenant, period, nowMs) {
  const tag = day(period.startMs);
  const events = [];
  for (let u = 0; u < Math.ceil(tenant.users / 4); u++) {
    const t = period.startMs + (u % 50) * MINUTE_MS + 30_000;
    events.push(
      event(tenant, tag, 'app', ['now', u], 'user.active', t, {
        subject: `${tenant.name}-user-${u}`,
        data: { client: 'web' },
      }),
    );
  }
  events.push(
    event(tenant, tag, 'gateway', ['now'], 'connections.sampled', period.startMs + 30 * MINUTE_MS, {
      data: { concurrent: Math.round(tenant.peak / 3) },
    }),
  );
  return events.filter((e) => Date.parse(e.time) <= nowMs - MINUTE_MS);
}
