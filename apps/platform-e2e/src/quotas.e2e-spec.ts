import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import {
  api,
  apiCallEvent,
  eventually,
  kafkaBrokers,
  postEvents,
  provisionTenants,
  serviceUrl,
  uniqueName,
  type ProvisionedAccount,
} from '@metering/testing';

const aggregation = serviceUrl('aggregation');
const registry = serviceUrl('tenant-registry');
const ingestion = serviceUrl('ingestion');

interface Crossing {
  accountId: string;
  tenantId?: string;
  data: { scope: string; key: string; threshold: number; used: string; allowance: string };
}

describe('quotas and entitlements', () => {
  const kafka = new Kafka({ brokers: kafkaBrokers(), clientId: 'e2e-quotas', logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  let consumer: Consumer;
  const crossings: Crossing[] = [];
  const deadLetters: { accountId: string; reason: string }[] = [];
  let account: ProvisionedAccount;

  /** Publishes a plan change as billing does. */
  async function announcePlan(accountId: string, data: Record<string, unknown>): Promise<void> {
    await producer.send({
      topic: 'billing.events.v1',
      acks: -1,
      messages: [
        {
          key: accountId,
          value: JSON.stringify({
            eventId: randomUUID(),
            type: 'subscription.changed',
            schemaVersion: 1,
            occurredAt: new Date().toISOString(),
            accountId,
            aggregateType: 'subscription',
            aggregateId: `sub_${accountId}`,
            aggregateVersion: 1,
            actor: { type: 'service', id: 'billing' },
            source: 'billing',
            data,
          }),
        },
      ],
    });
  }

  const plan = (meters: unknown[]) => ({
    subscriptionId: uniqueName('sub'),
    planId: 'plan_base',
    planVersion: 1,
    currency: 'USD',
    anchorDay: 1,
    timezone: 'UTC',
    effectiveFromMs: 0,
    meters,
    tenantLimits: {},
  });

  const check = (body: Record<string, unknown>, key = account.ownerKey) =>
    api(aggregation, 'POST', '/v1/entitlements/check', { key, body });

  const calls = async (tenant: { apiKey: string }, count: number) => {
    const events = Array.from({ length: count }, () => apiCallEvent());
    expect((await postEvents(ingestion, events, tenant.apiKey)).body.accepted).toBe(count);
  };

  const voice = async (tenant: { apiKey: string }, minutes: number) => {
    const event = apiCallEvent({ type: 'call.voice.completed', data: { minutes } });
    expect((await postEvents(ingestion, [event], tenant.apiKey)).body.accepted).toBe(1);
  };

  const quotas = () =>
    api(aggregation, 'GET', `/v1/accounts/${account.accountId}/quotas`, { key: account.ownerKey });

  const poolCrossings = (meter: string) =>
    crossings
      .filter((c) => c.accountId === account.accountId && c.data.scope === 'pool' && c.data.key === meter)
      .map((c) => c.data.threshold)
      .sort((a, b) => a - b);

  beforeAll(async () => {
    account = await provisionTenants(2);
    await producer.connect();
    consumer = kafka.consumer({ groupId: uniqueName('e2e-quota-events'), maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topics: ['quota.events.v1', 'billing.events.dlq.v1'], fromBeginning: true });
    await consumer.run({
      eachMessage: ({ topic, message }) => {
        let value: Crossing;
        try {
          value = JSON.parse(message.value?.toString() ?? '') as Crossing;
        } catch {
          return Promise.resolve(); // other tests put poison messages on these topics
        }
        if (topic === 'quota.events.v1') crossings.push(value);
        else
          deadLetters.push({ accountId: value.accountId, reason: String(message.headers?.['x-dlq-reason']) });
        return Promise.resolve();
      },
    });
    await announcePlan(
      account.accountId,
      plan([
        { meterKey: 'api_calls', included: '10' },
        { meterKey: 'voice_minutes', included: '100', hardCap: '120' },
      ]),
    );
    await eventually(async () => ((await quotas()).status === 200 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the plan known to aggregation',
    });
  });

  afterAll(async () => {
    await consumer.disconnect();
    await producer.disconnect();
  });

  it('announces 80 % and 100 % of a pooled allowance once each per period, not once per event', async () => {
    const [a, b] = account.tenants;
    await calls(a, 5);
    await calls(b, 3);
    await eventually(() => (poolCrossings('api_calls').length === 1 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the 80 % crossing',
    });
    await calls(a, 2);
    await calls(b, 1);
    await eventually(() => (poolCrossings('api_calls').length === 2 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the 100 % crossing',
    });
    await calls(b, 2);
    await eventually(
      async () =>
        (await quotas()).body.meters?.find((m: { meter: string }) => m.meter === 'api_calls')?.used === '13'
          ? true
          : undefined,
      { timeoutMs: 30_000, what: '13 calls counted' },
    );
    // Give evaluation rounds after the last events a chance to announce again (they must not).
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(poolCrossings('api_calls')).toEqual([80, 100]);
  });

  it('shows pooled usage against the plan with each tenant’s part', async () => {
    const [a, b] = account.tenants;
    const body = (await quotas()).body;
    const calls = body.meters.find((m: { meter: string }) => m.meter === 'api_calls');
    expect(calls).toMatchObject({
      included: '10',
      used: '13',
      remaining: '0',
      overage: '3',
      percentUsed: '130.00',
    });
    const parts = Object.fromEntries(
      calls.tenants.map((t: { tenantId: string; contribution: string }) => [t.tenantId, t.contribution]),
    );
    expect(parts).toEqual({ [a.tenantId]: '7', [b.tenantId]: '6' });
    expect(new Date(body.period.start).getUTCDate()).toBe(1);
  });

  it('allows overage within the hard cap and refuses what would pass it', async () => {
    const [a, b] = account.tenants;
    await voice(a, 70);
    await voice(b, 40);
    await eventually(
      async () => {
        const res = await check({ tenantId: a.tenantId, key: 'voice_minutes', quantity: 5 });
        return res.body.used === '110' ? res.body : undefined;
      },
      { timeoutMs: 30_000, what: '110 minutes seen by entitlement checks' },
    );
    expect((await check({ tenantId: a.tenantId, key: 'voice_minutes', quantity: 5 })).body).toMatchObject({
      allowed: true,
      reason: 'overage',
      allowance: '120',
      remaining: '10',
    });
    expect((await check({ tenantId: b.tenantId, key: 'voice_minutes', quantity: 15 })).body).toMatchObject({
      allowed: false,
      reason: 'hard_cap_reached',
    });
  });

  it('checks capability limits and announces a limit reached once', async () => {
    const [a] = account.tenants;
    const limits = await api(registry, 'PUT', `/v1/tenants/${a.tenantId}/limits`, {
      key: account.ownerKey,
      body: { limits: { maxAgents: 10 } },
    });
    expect(limits.status).toBe(200);
    await eventually(
      async () =>
        (await check({ tenantId: a.tenantId, key: 'maxAgents', quantity: 8 })).body.reason === 'within_limit'
          ? true
          : undefined,
      { what: 'the new limit seen' },
    );
    expect((await check({ tenantId: a.tenantId, key: 'maxAgents', quantity: 8 })).body).toMatchObject({
      allowed: true,
      remaining: '2',
    });
    expect((await check({ tenantId: a.tenantId, key: 'maxAgents', quantity: 11 })).body).toMatchObject({
      allowed: false,
      reason: 'limit_exceeded',
    });
    const limitCrossings = () =>
      crossings
        .filter((c) => c.tenantId === a.tenantId && c.data.scope === 'tenant-limit')
        .map((c) => c.data.threshold)
        .sort((x, y) => x - y);
    await eventually(() => (limitCrossings().length === 2 ? true : undefined), { what: 'limit crossings' });
    await check({ tenantId: a.tenantId, key: 'maxAgents', quantity: 10 });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(limitCrossings()).toEqual([80, 100]);
  });

  it('denies a suspended tenant', async () => {
    const [, b] = account.tenants;
    expect(
      (await api(registry, 'POST', `/v1/tenants/${b.tenantId}/suspend`, { key: account.ownerKey })).status,
    ).toBe(201);
    await eventually(
      async () => {
        const res = await check({ tenantId: b.tenantId, key: 'api_calls' });
        return res.body.reason === 'tenant_suspended' ? res.body : undefined;
      },
      { what: 'the suspension seen' },
    );
    expect((await check({ tenantId: b.tenantId, key: 'api_calls' })).body.allowed).toBe(false);
  });

  it('answers another account’s ids as not found and names unknown keys', async () => {
    const other = await provisionTenants(1);
    expect(
      (await api(aggregation, 'GET', `/v1/accounts/${account.accountId}/quotas`, { key: other.ownerKey }))
        .status,
    ).toBe(404);
    expect(
      (await check({ tenantId: account.tenants[0].tenantId, key: 'api_calls' }, other.ownerKey)).status,
    ).toBe(404);
    // Names an object's inherited properties carry are no limit keys either.
    for (const key of ['noSuchThing', 'constructor', '__proto__', 'toString']) {
      const unknown = await check({ tenantId: account.tenants[0].tenantId, key });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.details).toMatchObject({ field: 'key' });
    }
    const bad = await check({ tenantId: account.tenants[0].tenantId, key: 'api_calls', quantity: -1 });
    expect(bad.status).toBe(400);
  });

  it('answers its hot-path route exactly as the controller route answers the same request', async () => {
    // `/v1/entitlements/check` is answered before express and Nest's router; the same path with a
    // trailing slash reaches the controller route (Nest ignores trailing slashes).
    const [a, b] = account.tenants;
    const other = await provisionTenants(1);
    const send = async (path: string, headers: Record<string, string>, body: string) => {
      const res = await fetch(`${aggregation}${path}`, { method: 'POST', headers, body });
      return {
        status: res.status,
        contentType: res.headers.get('content-type'),
        correlated: /^[0-9a-f-]{36}$/.test(res.headers.get('x-correlation-id') ?? ''),
        body: (await res.json()) as unknown,
      };
    };
    const json = { 'content-type': 'application/json' };
    const owner = { ...json, authorization: `Bearer ${account.ownerKey}` };
    const cases: [string, Record<string, string>, string][] = [
      ['pooled meter', owner, JSON.stringify({ tenantId: a.tenantId, key: 'voice_minutes', quantity: 1 })],
      ['limit', owner, JSON.stringify({ tenantId: a.tenantId, key: 'maxAgents', quantity: 3 })],
      ['second tenant', owner, JSON.stringify({ tenantId: b.tenantId, key: 'api_calls' })],
      ['unknown tenant', owner, JSON.stringify({ tenantId: 'ten_nosuchtenant', key: 'api_calls' })],
      [
        'other account',
        { ...json, authorization: `Bearer ${other.ownerKey}` },
        JSON.stringify({ tenantId: a.tenantId, key: 'api_calls' }),
      ],
      ['no key', json, JSON.stringify({ tenantId: a.tenantId, key: 'api_calls' })],
      ['not a bearer key', { ...json, authorization: `Basic ${account.ownerKey}` }, '{}'],
      ['unknown key', owner, JSON.stringify({ tenantId: a.tenantId, key: 'noSuchThing' })],
      ['bad fields', owner, JSON.stringify({ tenantId: 'a b', key: 5, quantity: -1, extra: true })],
      ['NUL', owner, JSON.stringify({ tenantId: a.tenantId, key: 'api\u0000calls' })],
      ['malformed JSON', owner, '{"tenantId":'],
      ['not JSON', { ...owner, 'content-type': 'text/plain' }, 'tenantId=x'],
      ['an array', owner, '[]'],
      ['too large', owner, JSON.stringify({ tenantId: a.tenantId, key: 'x'.repeat(1_100_000) })],
    ];
    const statuses = new Set<number>();
    for (const [name, headers, body] of cases) {
      const direct = await send('/v1/entitlements/check', headers, body);
      const routed = await send('/v1/entitlements/check/', headers, body);
      expect({ name, ...direct }).toEqual({ name, ...routed });
      expect(direct.correlated).toBe(true);
      statuses.add(direct.status);
    }
    expect([...statuses].sort()).toEqual([200, 400, 401, 404, 413]);
  });

  it('dead-letters a plan change that breaks the contract, naming the field', async () => {
    await announcePlan(account.accountId, plan([{ meterKey: 'api_calls', included: 'lots' }]));
    const letter = await eventually(
      () =>
        deadLetters.find(
          (d) => d.accountId === account.accountId && d.reason.includes('subscription.changed'),
        ),
      { timeoutMs: 30_000, what: 'the dead letter' },
    );
    expect(letter.reason).toContain('data.meters.0.included');
  });
});
