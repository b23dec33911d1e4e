import { randomBytes, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { WEBHOOKS_EVENTS_TOPIC, type DomainEventEnvelope } from '@metering/contracts';
import { EventStore } from '@metering/event-store';
import { createDataSource, openScratchDatabase, urlForRole } from '@metering/persistence';
import { eventually, stackVar, uniqueName } from '@metering/testing';
import { SecretBox } from '@metering/webhooks-domain';
import { webhookMigrations } from './migrations';
import { WebhookStore, type Caller, type ClaimedDelivery, type WebhookStoreOptions } from './webhook-store';

const ROLE = { name: 'webhooks_it_app', password: 'webhooks_it_app' };
const admin: Caller = { scope: 'all-accounts', actor: { type: 'management-key', id: 'mk_admin' } };
const memberOf = (accountId: string): Caller => ({
  scope: { accountId },
  actor: { type: 'management-key', id: `mk_${accountId}` },
});

const OPTIONS: WebhookStoreOptions = {
  secrets: new SecretBox(randomBytes(32).toString('base64url')),
  retry: { baseDelayMs: 100, maxDelayMs: 200, horizonMs: 60_000 },
  disable: { minConsecutiveFailures: 3, failingForMs: 0 },
  maxEndpointsPerAccount: 3,
  leaseMs: 60_000,
};

function event(accountId: string, patch: Partial<DomainEventEnvelope> = {}): DomainEventEnvelope {
  return {
    eventId: randomUUID(),
    type: 'invoice.finalized',
    schemaVersion: 1,
    occurredAt: new Date(Date.now() + 1_000).toISOString(),
    accountId,
    aggregateType: 'invoice',
    aggregateId: 'inv_1',
    aggregateVersion: 2,
    actor: { type: 'system', id: 'billing' },
    source: 'billing',
    data: { invoiceId: 'inv_1' },
    ...patch,
  };
}

const ok = { statusCode: 200, latencyMs: 12, responseBody: 'ok' };
const failed = { statusCode: 503, latencyMs: 30, responseBody: 'down' };
const onlyIdle = { perEndpoint: 10, inFlight: new Map<string, number>() };

describe(WebhookStore.name, () => {
  let owner: DataSource;
  let app: DataSource;
  let drop: () => Promise<void>;
  const stores: WebhookStore[] = [];
  const storeWith = (options: Partial<WebhookStoreOptions> = {}) => {
    const store = new WebhookStore(
      new EventStore(app, { source: 'webhooks', topic: WEBHOOKS_EVENTS_TOPIC.name }),
      { ...OPTIONS, ...options },
    );
    stores.push(store);
    return store;
  };
  let store: WebhookStore;

  /** Claims due deliveries of one endpoint only (other tests' deliveries may be due too). */
  const claimOf = async (endpointId: string, s = store, limit = 10): Promise<ClaimedDelivery[]> => {
    const claimed = await s.claimDue({ limit: 100, ...onlyIdle });
    const mine = claimed.filter((c) => c.endpointId === endpointId).slice(0, limit);
    // Hand back what belongs to other tests: recorded as interrupted on their next claim, never lost.
    for (const other of claimed.filter((c) => !mine.includes(c)))
      await owner.query(`UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1`, [other.id]);
    return mine;
  };

  const newEndpoint = async (accountId: string, eventTypes = ['invoice.*'], s = store) =>
    s.createEndpoint(admin, accountId, { url: 'https://hooks.example.com/in', eventTypes, description: '' });

  beforeAll(async () => {
    const scratch = await openScratchDatabase(stackVar('POSTGRES_URL'), 'it_webhooks', {
      migrations: webhookMigrations({ appRole: ROLE.name, appPassword: ROLE.password }),
    });
    owner = scratch.db;
    drop = scratch.drop;
    app = createDataSource({ url: urlForRole(scratch.url, ROLE), poolSize: 8 });
    await app.initialize();
    store = storeWith();
  });

  afterAll(async () => {
    await app.destroy();
    await drop();
  });

  describe('endpoints', () => {
    it('creates an endpoint, shows its secret once and keeps it sealed at rest', async () => {
      const accountId = uniqueName('acc');
      const { endpoint, secret } = await newEndpoint(accountId);
      expect(secret).toMatch(/^whsec_/);
      expect(endpoint).toMatchObject({ accountId, status: 'enabled', secretHint: `${secret.slice(0, 10)}…` });
      expect(JSON.stringify(await store.getEndpoint(admin, accountId, endpoint.id))).not.toContain(secret);
      const [row] = await owner.query(`SELECT * FROM webhook_endpoints WHERE id = $1`, [endpoint.id]);
      expect(JSON.stringify(row)).not.toContain(secret.slice(6));
    });

    it('answers another account’s endpoint as not found, under row-level security too', async () => {
      const a = uniqueName('acc');
      const b = uniqueName('acc');
      const { endpoint } = await newEndpoint(a);
      await expect(store.getEndpoint(memberOf(b), a, endpoint.id)).rejects.toMatchObject({
        code: 'webhook_endpoint_not_found',
      });
      await expect(store.getEndpoint(admin, b, endpoint.id)).rejects.toMatchObject({ kind: 'not_found' });
      expect(await store.listEndpoints(memberOf(b), a)).toEqual([]);
      expect((await store.listEndpoints(memberOf(a), a)).map((e) => e.id)).toEqual([endpoint.id]);
    });

    it('limits endpoints per account, under concurrent creation', async () => {
      const accountId = uniqueName('acc');
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => newEndpoint(accountId)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
      expect(results.filter((r) => r.status === 'rejected').map((r) => r.reason.code)).toEqual([
        'too_many_webhook_endpoints',
        'too_many_webhook_endpoints',
        'too_many_webhook_endpoints',
      ]);
    });

    it('publishes each lifecycle change through the outbox, never the secret', async () => {
      const accountId = uniqueName('acc');
      const { endpoint, secret } = await newEndpoint(accountId);
      await store.updateEndpoint(memberOf(accountId), accountId, endpoint.id, {
        eventTypes: ['*'],
        enabled: false,
      });
      await store.updateEndpoint(memberOf(accountId), accountId, endpoint.id, { enabled: true });
      await store.deleteEndpoint(memberOf(accountId), accountId, endpoint.id);
      const rows = await owner.query(
        `SELECT topic, key, payload FROM es_outbox WHERE payload->>'aggregateId' = $1 ORDER BY id`,
        [endpoint.id],
      );
      expect(rows.map((r: { payload: { type: string } }) => r.payload.type)).toEqual([
        'webhook_endpoint.created',
        'webhook_endpoint.updated',
        'webhook_endpoint.disabled',
        'webhook_endpoint.enabled',
        'webhook_endpoint.deleted',
      ]);
      expect(
        rows.every(
          (r: { topic: string; key: string }) => r.topic === 'webhooks.events.v1' && r.key === accountId,
        ),
      ).toBe(true);
      expect(rows[2].payload.data).toMatchObject({ reason: 'manual', endpointId: endpoint.id });
      expect(JSON.stringify(rows)).not.toContain(secret.slice(6));
      await expect(store.getEndpoint(admin, accountId, endpoint.id)).rejects.toMatchObject({
        kind: 'not_found',
      });
    });
  });

  describe('queue', () => {
    it('records one delivery per subscribed endpoint and event, however often the event comes', async () => {
      const accountId = uniqueName('acc');
      const invoices = (await newEndpoint(accountId, ['invoice.*'])).endpoint;
      const tenants = (await newEndpoint(accountId, ['tenant.suspended'])).endpoint;
      const finalized = event(accountId);
      const suspended = event(accountId, { type: 'tenant.suspended', tenantId: 'ten_1' });
      const internal = event(accountId, { type: 'api_key.issued' });
      const otherAccount = event(uniqueName('acc'));
      expect(await store.enqueue([finalized, suspended, internal, otherAccount, finalized])).toBe(2);
      expect(await store.enqueue([finalized, suspended])).toBe(0);
      const rows = await owner.query(
        `SELECT endpoint_id, event_id, body FROM webhook_deliveries WHERE account_id = $1`,
        [accountId],
      );
      expect(
        rows.map((r: { endpoint_id: string; event_id: string }) => [r.endpoint_id, r.event_id]).sort(),
      ).toEqual(
        [
          [invoices.id, finalized.eventId],
          [tenants.id, suspended.eventId],
        ].sort(),
      );
      expect(
        JSON.parse(rows.find((r: { event_id: string }) => r.event_id === suspended.eventId).body),
      ).toEqual({
        id: suspended.eventId,
        type: 'tenant.suspended',
        occurredAt: suspended.occurredAt,
        accountId,
        tenantId: 'ten_1',
        data: suspended.data,
      });
    });

    it('gives nothing to disabled endpoints, nor events from before an endpoint existed', async () => {
      const accountId = uniqueName('acc');
      const { endpoint } = await newEndpoint(accountId);
      const before = event(accountId, { occurredAt: new Date(Date.now() - 60_000).toISOString() });
      expect(await store.enqueue([before])).toBe(0);
      await store.updateEndpoint(admin, accountId, endpoint.id, { enabled: false });
      expect(await store.enqueue([event(accountId)])).toBe(0);
    });

    it('retries a failed attempt after its backoff, then records the success', async () => {
      const accountId = uniqueName('acc');
      const { endpoint } = await newEndpoint(accountId);
      await store.enqueue([event(accountId)]);
      const [first] = await claimOf(endpoint.id);
      expect(first).toMatchObject({ attempt: 1, url: 'https://hooks.example.com/in' });
      expect(first.secret).toMatch(/^whsec_/);
      const step = await store.recordAttempt(first, failed, 0);
      expect(step).toEqual({
        step: { status: 'pending', nextAttemptAtMs: expect.any(Number) },
        endpointDisabled: false,
      });
      // Leased deliveries and deliveries not yet due are not claimed.
      expect(await claimOf(endpoint.id)).toEqual([]);
      const second = await eventually(async () => (await claimOf(endpoint.id))[0], { what: 'the retry due' });
      expect(second.attempt).toBe(2);
      expect((await store.recordAttempt(second, ok)).step).toEqual({ status: 'succeeded' });

      const [delivery] = (await store.listDeliveries(admin, accountId, endpoint.id, { limit: 10 }))
        .deliveries;
      const detail = await store.getDelivery(memberOf(accountId), accountId, endpoint.id, delivery.id);
      expect(detail).toMatchObject({
        status: 'succeeded',
        attempts: 2,
        lastStatusCode: 200,
        lastLatencyMs: 12,
        nextAttemptAt: null,
      });
      expect(detail.attemptLog.map((a) => [a.attempt, a.outcome, a.statusCode, a.responseBody])).toEqual([
        [1, 'failed', 503, 'down'],
        [2, 'succeeded', 200, 'ok'],
      ]);
      expect((await store.getEndpoint(admin, accountId, endpoint.id)).health).toMatchObject({
        consecutiveFailures: 0,
        lastSuccessAt: expect.any(String),
      });
    });

    it('hands a delivery whose worker died on to the next claim, logging the lost attempt as interrupted', async () => {
      const accountId = uniqueName('acc');
      const short = storeWith({ leaseMs: 300 });
      const { endpoint } = await newEndpoint(accountId, ['invoice.*'], short);
      await short.enqueue([event(accountId)]);
      const [dead] = await claimOf(endpoint.id, short);
      // The worker holding `dead` never records it; once the lease has run out, another takes over.
      const taken = await eventually(async () => (await claimOf(endpoint.id, short))[0], {
        what: 'lease expiry',
      });
      expect(taken).toMatchObject({ id: dead.id, attempt: 2 });
      expect(await short.recordAttempt(dead, ok)).toEqual({ step: 'lost', endpointDisabled: false });
      expect((await short.recordAttempt(taken, ok)).step).toEqual({ status: 'succeeded' });
      const detail = await short.getDelivery(admin, accountId, endpoint.id, dead.id);
      expect(detail.attemptLog.map((a) => a.outcome)).toEqual(['interrupted', 'succeeded']);
      expect(detail.status).toBe('succeeded');
    });

    it('never gives one delivery to two concurrent claims', async () => {
      const accountId = uniqueName('acc');
      const { endpoint } = await newEndpoint(accountId);
      await store.enqueue(Array.from({ length: 30 }, () => event(accountId)));
      const claimed: ClaimedDelivery[] = [];
      // Four workers claim side by side until the endpoint has nothing due.
      const worker = async () => {
        for (let idle = 0; idle < 3;) {
          const got = await store.claimDue({ limit: 5, perEndpoint: 30, inFlight: new Map() });
          claimed.push(...got);
          idle = got.some((c) => c.endpointId === endpoint.id) ? 0 : idle + 1;
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      const mine = claimed.filter((c) => c.endpointId === endpoint.id);
      expect(mine).toHaveLength(30);
      expect(new Set(mine.map((c) => c.id)).size).toBe(30);
      await Promise.all(claimed.map((c) => store.recordAttempt(c, ok)));
    });

    it('claims at most perEndpoint of one endpoint, counting what is in flight', async () => {
      const accountId = uniqueName('acc');
      const { endpoint } = await newEndpoint(accountId);
      await store.enqueue(Array.from({ length: 5 }, () => event(accountId)));
      const first = await store.claimDue({
        limit: 10,
        perEndpoint: 2,
        inFlight: new Map([[endpoint.id, 1]]),
      });
      expect(first.filter((c) => c.endpointId === endpoint.id)).toHaveLength(1);
      const none = await store.claimDue({ limit: 10, perEndpoint: 2, inFlight: new Map([[endpoint.id, 2]]) });
      expect(none.filter((c) => c.endpointId === endpoint.id)).toHaveLength(0);
      await Promise.all([...first, ...none].map((c) => store.recordAttempt(c, ok)));
    });

    it('fails a delivery at its horizon', async () => {
      const accountId = uniqueName('acc');
      const brief = storeWith({ retry: { baseDelayMs: 1_000, maxDelayMs: 1_000, horizonMs: 500 } });
      const { endpoint } = await newEndpoint(accountId, ['invoice.*'], brief);
      await brief.enqueue([event(accountId)]);
      const [claimed] = await claimOf(endpoint.id, brief);
      expect(
        (await brief.recordAttempt(claimed, { error: 'ECONNRESET: socket hang up', latencyMs: 3 }, 0.9)).step,
      ).toEqual({
        status: 'failed',
      });
      const delivery = await brief.getDelivery(admin, accountId, endpoint.id, claimed.id);
      expect(delivery).toMatchObject({
        status: 'failed',
        lastError: 'ECONNRESET: socket hang up',
        completedAt: expect.any(String),
      });
    });

    it('disables an endpoint that keeps failing, says so on webhooks.events.v1, and stops claiming for it', async () => {
      const accountId = uniqueName('acc');
      const { endpoint } = await newEndpoint(accountId);
      await store.enqueue([event(accountId), event(accountId), event(accountId), event(accountId)]);
      const claimed = await claimOf(endpoint.id);
      const outcomes = [];
      for (const c of claimed.slice(0, 3))
        outcomes.push((await store.recordAttempt(c, failed)).endpointDisabled);
      expect(outcomes).toEqual([false, false, true]);
      // The fourth, already in flight, is recorded, but nothing more is claimed for the endpoint.
      await store.recordAttempt(claimed[3], failed, 0);
      const view = await store.getEndpoint(admin, accountId, endpoint.id);
      expect(view).toMatchObject({
        status: 'disabled',
        disabledReason: 'failing',
        health: { consecutiveFailures: 4, lastError: 'HTTP 503' },
      });
      const [published] = await owner.query(
        `SELECT payload FROM es_outbox WHERE payload->>'aggregateId' = $1 AND payload->>'type' = 'webhook_endpoint.disabled'`,
        [endpoint.id],
      );
      expect(published.payload).toMatchObject({
        accountId,
        source: 'webhooks',
        actor: { type: 'system', id: 'webhooks-delivery' },
        data: { endpointId: endpoint.id, reason: 'failing', consecutiveFailures: 3, lastError: 'HTTP 503' },
      });
      await owner.query(`UPDATE webhook_deliveries SET next_attempt_at = now() WHERE endpoint_id = $1`, [
        endpoint.id,
      ]);
      expect(await claimOf(endpoint.id)).toEqual([]);
    });
  });

  describe('log', () => {
    it('redelivers a finished delivery as a new one, and refuses while it is pending or the endpoint is disabled', async () => {
      const accountId = uniqueName('acc');
      const { endpoint } = await newEndpoint(accountId);
      await store.enqueue([event(accountId)]);
      const [claimed] = await claimOf(endpoint.id);
      await expect(store.redeliver(admin, accountId, endpoint.id, claimed.id)).rejects.toMatchObject({
        code: 'webhook_delivery_pending',
      });
      await store.recordAttempt(claimed, ok);
      const again = await store.redeliver(memberOf(accountId), accountId, endpoint.id, claimed.id);
      expect(again).toMatchObject({
        status: 'pending',
        attempts: 0,
        redeliveryOf: claimed.id,
        eventId: claimed.eventId,
      });
      const [redelivered] = await claimOf(endpoint.id);
      expect(redelivered).toMatchObject({ id: again.id, body: claimed.body, attempt: 1 });
      await store.recordAttempt(redelivered, ok);
      await expect(store.redeliver(admin, accountId, endpoint.id, 'not-a-uuid')).rejects.toMatchObject({
        code: 'webhook_delivery_not_found',
      });
      await store.updateEndpoint(admin, accountId, endpoint.id, { enabled: false });
      await expect(store.redeliver(admin, accountId, endpoint.id, claimed.id)).rejects.toMatchObject({
        code: 'webhook_endpoint_disabled',
      });
    });

    it('pages deliveries newest first, filtered by status', async () => {
      const accountId = uniqueName('acc');
      const { endpoint } = await newEndpoint(accountId);
      await store.enqueue(Array.from({ length: 5 }, () => event(accountId)));
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listDeliveries(admin, accountId, endpoint.id, { limit: 2, cursor });
        seen.push(...page.deliveries.map((d) => d.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(new Set(seen).size).toBe(5);
      expect(
        (await store.listDeliveries(admin, accountId, endpoint.id, { limit: 10, status: 'succeeded' }))
          .deliveries,
      ).toEqual([]);
      await expect(
        store.listDeliveries(admin, accountId, endpoint.id, { limit: 10, cursor: 'garbage' }),
      ).rejects.toMatchObject({
        kind: 'invalid',
        details: [{ field: 'cursor', reasons: [expect.any(String)] }],
      });
    });

    it('prunes finished deliveries past the retention, never pending ones', async () => {
      const accountId = uniqueName('acc');
      const { endpoint } = await newEndpoint(accountId);
      await store.enqueue([event(accountId), event(accountId)]);
      const [done] = await claimOf(endpoint.id, store, 1);
      await store.recordAttempt(done, ok);
      await owner.query(
        `UPDATE webhook_deliveries SET completed_at = now() - interval '40 days' WHERE id = $1`,
        [done.id],
      );
      expect(await store.prune(30 * 86_400_000)).toBeGreaterThanOrEqual(1);
      const left = (await store.listDeliveries(admin, accountId, endpoint.id, { limit: 10 })).deliveries;
      expect(left.map((d) => d.status)).toEqual(['pending']);
    });
  });
});
