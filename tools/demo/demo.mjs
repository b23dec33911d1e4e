// Demo scenario through the public APIs: a vendor account with three tenants is set up in the
// registry (found again on later runs), each tenant's producer publishes a week of usage to
// ingestion with its own API key (with a producer retry that re-sends a day, and one invalid
// event), then the usage each tenant accrued is read back from ClickHouse through aggregation's
// GET /v1/usage. Event ids are deterministic, so running the demo again adds nothing.
import { createHash } from 'node:crypto';
import { readStackEnv } from '../stack/stack-env.mjs';

const stackEnv = readStackEnv();
const ADMIN_KEY = process.env.ADMIN_KEY ?? stackEnv.ADMIN_KEY;
const REGISTRY = process.env.REGISTRY_URL ?? 'http://127.0.0.1:3001';
const INGESTION = process.env.INGESTION_URL ?? 'http://127.0.0.1:3002';
const AGGREGATION = process.env.AGGREGATION_URL ?? 'http://127.0.0.1:3003';
const DAYS = 7;
const DAY_MS = 86_400_000;

const tenants = [
  { name: 'acme-chat', apiCallsPerDay: 120, voiceCallsPerDay: 6 },
  { name: 'globex-voice', apiCallsPerDay: 40, voiceCallsPerDay: 30 },
  { name: 'initech-iot', apiCallsPerDay: 300, voiceCallsPerDay: 0 },
];
const ACCOUNT_NAME = 'Demo Vendor';

async function registry(method, pathname, body) {
  const res = await fetch(`${REGISTRY}${pathname}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_KEY}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`registry ${method} ${pathname}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Finds the demo account and its tenants, creating what is missing; gives each tenant a fresh ingest key. */
let demoAccountId;

async function setUpTenants() {
  let account;
  for (let cursor = ''; !account;) {
    const page = await registry('GET', `/v1/accounts?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    account = page.items.find((a) => a.name === ACCOUNT_NAME);
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  account ??= await registry('POST', '/v1/accounts', {
    name: ACCOUNT_NAME,
    currency: 'USD',
    timezone: 'Europe/Berlin',
    billingAnchorDay: 1,
  });
  const existing = (await registry('GET', `/v1/accounts/${account.id}/tenants?limit=500`)).items;
  for (const tenant of tenants) {
    tenant.id = existing.find((t) => t.name === tenant.name)?.id;
    tenant.id ??= (
      await registry('POST', `/v1/accounts/${account.id}/tenants`, {
        name: tenant.name,
        limits: { maxAgents: 25 },
      })
    ).id;
    tenant.apiKey = (
      await registry('POST', `/v1/tenants/${tenant.id}/api-keys`, { scopes: ['ingest'], name: 'demo' })
    ).secret;
  }
  demoAccountId = account.id;
  console.log(
    `\nAccount "${ACCOUNT_NAME}" (${account.id}) with tenants ${tenants.map((t) => `${t.name} (${t.id})`).join(', ')}`,
  );
}

const stableId = (...parts) => createHash('sha256').update(parts.join('/')).digest('hex').slice(0, 32);

function eventsFor(tenant, day, periodStart) {
  const dayStart = periodStart + day * DAY_MS;
  const events = [];
  for (let i = 0; i < tenant.apiCallsPerDay; i++) {
    events.push({
      specversion: '1.0',
      id: stableId(tenant.name, 'api', day, i),
      source: `demo://${tenant.name}/gateway`,
      type: 'api.call',
      time: new Date(dayStart + ((i * 7919) % DAY_MS)).toISOString(),
      data: { route: '/v1/messages' },
    });
  }
  for (let i = 0; i < tenant.voiceCallsPerDay; i++) {
    events.push({
      specversion: '1.0',
      id: stableId(tenant.name, 'voice', day, i),
      source: `demo://${tenant.name}/pbx`,
      type: 'call.voice.completed',
      subject: `agent-${i % 5}`,
      time: new Date(dayStart + i * 60_000).toISOString(),
      data: { minutes: 1 + (i % 4) * 2.5 },
    });
  }
  return events;
}

async function post(tenant, events) {
  const res = await fetch(`${INGESTION}/v1/events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/cloudevents-batch+json',
      authorization: `Bearer ${tenant.apiKey}`,
    },
    body: JSON.stringify(events),
  });
  const body = await res.json();
  if (res.status !== 202) throw new Error(`ingestion answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

async function usage(meter, tenantId, from, to, accountId) {
  const q = new URLSearchParams({
    meter,
    ...(tenantId ? { tenantId } : { accountId }),
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
  });
  const res = await fetch(`${AGGREGATION}/v1/usage?${q}`, {
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });
  if (!res.ok) throw new Error(`aggregation answered ${res.status}: ${await res.text()}`);
  return res.json();
}

function expected(tenant) {
  let minutes = 0;
  for (let i = 0; i < tenant.voiceCallsPerDay; i++) minutes += 1 + (i % 4) * 2.5;
  return {
    apiCalls: tenant.apiCallsPerDay * DAYS,
    voiceMinutes: minutes * DAYS,
    events: (tenant.apiCallsPerDay + tenant.voiceCallsPerDay) * DAYS,
  };
}

async function main() {
  // A fixed week: the seven UTC days before today.
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  const periodStart = today - DAYS * DAY_MS;
  await setUpTenants();
  console.log(`\nPublishing ${DAYS} days of usage for ${tenants.length} tenants to ${INGESTION} …`);
  const totals = { accepted: 0, duplicates: 0, rejected: 0 };
  for (const tenant of tenants) {
    for (let day = 0; day < DAYS; day++) {
      const events = eventsFor(tenant, day, periodStart);
      const result = await post(tenant, events);
      totals.accepted += result.accepted;
      totals.duplicates += result.duplicates;
      totals.rejected += result.rejected.length;
    }
  }
  // A producer retry re-sends one day, and a broken event arrives in the same request.
  const retry = [
    ...eventsFor(tenants[0], 3, periodStart).slice(0, 50),
    { specversion: '1.0', id: 'broken', type: 'api.call' },
  ];
  const retried = await post(tenants[0], retry);
  console.log(
    `  accepted ${totals.accepted + retried.accepted}, rejected ${totals.rejected + retried.rejected.length}` +
      ` (e.g. ${JSON.stringify(retried.rejected[0]?.reasons.slice(0, 2))}); the re-sent events count once`,
  );

  console.log(`\nUsage read back from ClickHouse via ${AGGREGATION}/v1/usage (waiting for the sink) …`);
  const rows = [];
  const deadline = Date.now() + 60_000;
  for (const tenant of tenants) {
    const want = expected(tenant);
    let api, voice;
    do {
      api = await usage('api_calls', tenant.id, periodStart, today);
      voice = await usage('voice_minutes', tenant.id, periodStart, today);
      if (Number(api.value) >= want.apiCalls && voice.events >= tenant.voiceCallsPerDay * DAYS) break;
      await new Promise((r) => setTimeout(r, 500));
    } while (Date.now() < deadline);
    rows.push({
      tenant: tenant.name,
      id: tenant.id,
      api_calls: Number(api.value),
      voice_minutes: Number(voice.value),
      expected_api_calls: want.apiCalls,
      expected_voice_minutes: want.voiceMinutes,
    });
  }
  console.table(rows);
  const wrong = rows.filter(
    (r) => r.api_calls !== r.expected_api_calls || r.voice_minutes !== r.expected_voice_minutes,
  );
  if (wrong.length) {
    console.error(`usage does not match what was sent for: ${wrong.map((r) => r.tenant).join(', ')}`);
    process.exit(1);
  }
  console.log(`Every tenant's usage matches what its producers sent, duplicates counted once.`);

  console.log(`\nPooled for the account (GET /v1/usage?accountId=…), with each tenant's part:`);
  for (const meter of ['api_calls', 'voice_minutes']) {
    const pooled = await usage(meter, undefined, periodStart, today, demoAccountId);
    const parts = pooled.tenants
      .map((t) => `${tenants.find((d) => d.id === t.tenantId)?.name ?? t.tenantId} ${t.contribution}`)
      .join(', ');
    console.log(`  ${meter}: ${pooled.value} (${parts})`);
    const want = rows.reduce((sum, r) => sum + (meter === 'api_calls' ? r.api_calls : r.voice_minutes), 0);
    if (Number(pooled.value) !== want) {
      console.error(`pooled ${meter} ${pooled.value} is not the tenants' total ${want}`);
      process.exit(1);
    }
  }
}

main().catch((err) => {
  console.error(`demo failed: ${err.message}`);
  process.exit(1);
});
