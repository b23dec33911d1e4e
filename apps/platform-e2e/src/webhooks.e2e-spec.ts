import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { Client } from 'pg';
import {
  api,
  eventually,
  kafkaBrokers,
  serviceUrl,
  stackVar,
  startInstance,
  uniqueName,
  type ServiceInstance,
} from '@metering/testing';
import { WEBHOOK_HEADERS, webhookSignatureProblem, type WebhookEvent } from '@metering/usage-sdk';
import { adminKey, domainEvent, newAccountId, producer } from './audit-fixtures';
import { tenancy, type Tenancy } from './hostile-fixtures';

/** One request the receiver got, and what it answered. */
interface Received {
  path: string;
  raw: Buffer;
  headers: IncomingHttpHeaders;
  event: WebhookEvent;
  /** The status answered; undefined while (or if never) answered. */
  answered?: number;
}

/** What to answer the n-th request (1-based) to a path: a status, or hold the request open. */
type Responder = (n: number) => number | 'hang';

/**
 * A vendor's receiver on 127.0.0.1: records every request with its raw body and answers as each
 * path's responder says (200 by default).
 */
class Receiver {
  readonly requests: Received[] = [];
  private readonly responders = new Map<string, Responder>();
  private readonly held = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<Receiver> {
    const box: { receiver?: Receiver } = {};
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => box.receiver!.handle(req.url ?? '/', req.headers, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    box.receiver = new Receiver(server, (server.address() as AddressInfo).port);
    return box.receiver;
  }

  /** A fresh path on this receiver, answered by `responder`. */
  path(responder: Responder = () => 200): { url: string; path: string } {
    const path = `/hooks/${uniqueName('endpoint')}`;
    this.responders.set(path, responder);
    return { url: `http://127.0.0.1:${this.port}${path}`, path };
  }

  to(path: string): Received[] {
    return this.requests.filter((r) => r.path === path);
  }

  private handle(path: string, headers: IncomingHttpHeaders, raw: Buffer, res: ServerResponse): void {
    const received: Received = {
      path,
      raw,
      headers,
      event: JSON.parse(raw.toString('utf8')) as WebhookEvent,
    };
    this.requests.push(received);
    const answer = (this.responders.get(path) ?? (() => 200))(this.to(path).length);
    if (answer === 'hang') {
      this.held.add(res);
      return;
    }
    received.answered = answer;
    res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'received' : 'unavailable');
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A webhooks instance of its own (its database and consumer group, so it delivers only to the
 * endpoints registered on it) that may reach loopback receivers and retries within a second.
 */
function ownWebhooks(
  database = uniqueName('webhooks_e2e').toLowerCase(),
  group = uniqueName('webhooks.e2e'),
) {
  const start = (): Promise<ServiceInstance> =>
    startInstance('webhooks', {
      DATABASE_URL: `${stackVar('POSTGRES_URL')}/${database}`,
      WEBHOOK_CONSUMER_GROUP: group,
      WEBHOOK_ALLOWED_PRIVATE_NETWORKS: '127.0.0.0/8',
      WEBHOOK_RETRY_BASE_MS: '300',
      WEBHOOK_RETRY_MAX_MS: '600',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_POLL_INTERVAL_MS: '100',
      WEBHOOK_DISABLE_AFTER_FAILURES: '4',
      WEBHOOK_DISABLE_AFTER_MS: '0',
      // A restarted instance rejoins the group once its killed predecessor's session expired.
      KAFKA_SESSION_TIMEOUT_MS: '6000',
    });
  return { database, start };
}

async function dropDatabase(name: string): Promise<void> {
  const pg = new Client({ connectionString: `${stackVar('POSTGRES_URL')}/postgres` });
  await pg.connect();
  try {
    await pg.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await pg.end();
  }
}

interface EndpointBody {
  id: string;
  status: string;
  secret?: string;
  disabledReason: string | null;
  health: { consecutiveFailures: number };
}
interface DeliveryBody {
  id: string;
  eventId: string;
  status: string;
  attempts: number;
  lastStatusCode: number | null;
  lastLatencyMs: number | null;
  lastError: string | null;
  redeliveryOf: string | null;
  attemptLog: {
    attempt: number;
    outcome: string;
    statusCode: number | null;
    latencyMs: number | null;
    error: string | null;
  }[];
}

/** The REST API of one webhooks instance, for one account. */
function webhooksApi(baseUrl: string, accountId: string, key: string) {
  const root = `/v1/accounts/${accountId}/webhook-endpoints`;
  return {
    create: (body: Record<string, unknown>) => api<EndpointBody>(baseUrl, 'POST', root, { key, body }),
    get: (endpointId: string) => api<EndpointBody>(baseUrl, 'GET', `${root}/${endpointId}`, { key }),
    update: (endpointId: string, body: Record<string, unknown>) =>
      api<EndpointBody>(baseUrl, 'PATCH', `${root}/${endpointId}`, { key, body }),
    remove: (endpointId: string) => api(baseUrl, 'DELETE', `${root}/${endpointId}`, { key }),
    deliveries: (endpointId: string) =>
      api<{ deliveries: DeliveryBody[] }>(baseUrl, 'GET', `${root}/${endpointId}/deliveries`, { key }),
    delivery: (endpointId: string, deliveryId: string) =>
      api<DeliveryBody>(baseUrl, 'GET', `${root}/${endpointId}/deliveries/${deliveryId}`, { key }),
    redeliver: (endpointId: string, deliveryId: string) =>
      api<DeliveryBody>(baseUrl, 'POST', `${root}/${endpointId}/deliveries/${deliveryId}/redeliver`, { key }),
  };
}

/** Waits until the endpoint's delivery of `eventId` has `status`, and returns it with its attempt log. */
async function deliveryOf(
  hooks: ReturnType<typeof webhooksApi>,
  endpointId: string,
  eventId: string,
  status: string,
): Promise<DeliveryBody> {
  const found = await eventually(
    async () => {
      const list = await hooks.deliveries(endpointId);
      return list.body.deliveries.find((d) => d.eventId === eventId && d.status === status);
    },
    { timeoutMs: 40_000, what: `a ${status} delivery of ${eventId}` },
  );
  return (await hooks.delivery(endpointId, found.id)).body;
}

const signatureOutcome = (options: Parameters<typeof webhookSignatureProblem>[0]) =>
  webhookSignatureProblem(options) ?? 'ok';

/** A quota crossing as aggregation publishes it, for `accountId`. */
const quotaCrossed = (accountId: string) =>
  domainEvent(accountId, {
    data: { scope: 'pool', key: 'api_calls', threshold: 80, used: '80', allowance: '100' },
  });

async function publishQuota(kafka: Producer, event: Record<string, unknown>): Promise<void> {
  await kafka.send({
    topic: 'quota.events.v1',
    acks: -1,
    messages: [{ key: event.accountId as string, value: JSON.stringify(event) }],
  });
}

describe('outbound webhooks', () => {
  let receiver: Receiver;
  let kafka: Producer;
  const instances: ServiceInstance[] = [];
  const databases: string[] = [];

  beforeAll(async () => {
    [receiver, kafka] = await Promise.all([Receiver.start(), producer()]);
  });

  afterAll(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await Promise.all(databases.map(dropDatabase));
    await kafka.disconnect();
    await receiver.close();
  });

  describe('delivery to a local receiver', () => {
    let own: ServiceInstance;

    beforeAll(async () => {
      const webhooks = ownWebhooks();
      databases.push(webhooks.database);
      own = await webhooks.start();
      instances.push(own);
    });

    it('signs each delivery so that the SDK helper verifies it, and refuses a tampered body or a stale timestamp', async () => {
      const account: Tenancy = await tenancy(1);
      const hooks = webhooksApi(own.url, account.accountId, account.ownerKey);
      const target = receiver.path();
      const created = await hooks.create({ url: target.url, eventTypes: ['tenant.suspended'] });
      expect(created.status).toBe(201);
      const secret = created.body.secret!;
      expect(secret).toMatch(/^whsec_/);
      expect((await hooks.get(created.body.id)).body).not.toHaveProperty('secret');

      const tenantId = account.tenants[0].tenantId;
      const suspended = await api(serviceUrl('tenant-registry'), 'POST', `/v1/tenants/${tenantId}/suspend`, {
        key: account.ownerKey,
        body: { reason: 'unpaid invoice' },
      });
      expect(suspended.status).toBeLessThan(300);

      const [request] = await eventually(
        () => (receiver.to(target.path).length ? receiver.to(target.path) : undefined),
        {
          timeoutMs: 30_000,
          what: 'the tenant.suspended delivery',
        },
      );
      expect(request.event).toMatchObject({
        type: 'tenant.suspended',
        accountId: account.accountId,
        tenantId,
        data: { reason: 'unpaid invoice' },
      });
      expect(request.headers[WEBHOOK_HEADERS.eventId]).toBe(request.event.id);
      expect(request.headers[WEBHOOK_HEADERS.deliveryId]).toMatch(/^[0-9a-f-]{36}$/);
      const header = request.headers[WEBHOOK_HEADERS.signature] as string;
      const timestampSec = Number(/^t=(\d+),/.exec(header)![1]);

      expect(signatureOutcome({ payload: request.raw, header, secret })).toBe('ok');
      const tampered = Buffer.from(request.raw.toString('utf8').replace('unpaid invoice', 'paid invoice!!'));
      expect(signatureOutcome({ payload: tampered, header, secret })).toBe('signature_mismatch');
      expect(signatureOutcome({ payload: request.raw, header, secret, nowSec: timestampSec + 301 })).toBe(
        'timestamp_outside_tolerance',
      );
      expect(signatureOutcome({ payload: request.raw, header, secret: 'whsec_someone-else' })).toBe(
        'signature_mismatch',
      );
    });

    it('gives a receiver that fails twice then succeeds the event once as a success, with three attempts logged', async () => {
      const accountId = newAccountId();
      const hooks = webhooksApi(own.url, accountId, adminKey());
      const target = receiver.path((n) => (n <= 2 ? 500 : 200));
      const endpoint = (await hooks.create({ url: target.url, eventTypes: ['quota.threshold_crossed'] }))
        .body;
      const event = quotaCrossed(accountId);
      await publishQuota(kafka, event);

      const delivery = await deliveryOf(hooks, endpoint.id, event.eventId as string, 'succeeded');
      expect(delivery).toMatchObject({ attempts: 3, lastStatusCode: 200, lastError: null });
      expect(delivery.attemptLog.map((a) => [a.attempt, a.outcome, a.statusCode])).toEqual([
        [1, 'failed', 500],
        [2, 'failed', 500],
        [3, 'succeeded', 200],
      ]);
      expect(delivery.attemptLog.every((a) => typeof a.latencyMs === 'number')).toBe(true);

      // Another event through the same endpoint: once it has arrived, nothing more came of the first.
      const later = quotaCrossed(accountId);
      await publishQuota(kafka, later);
      await deliveryOf(hooks, endpoint.id, later.eventId as string, 'succeeded');
      const first = receiver.to(target.path).filter((r) => r.event.id === event.eventId);
      expect(first.map((r) => r.answered)).toEqual([500, 500, 200]);
      expect(new Set(first.map((r) => r.headers[WEBHOOK_HEADERS.deliveryId])).size).toBe(1);
      expect(first.map((r) => r.headers[WEBHOOK_HEADERS.attempt])).toEqual(['1', '2', '3']);
      expect(
        first.every(
          (r) =>
            signatureOutcome({
              payload: r.raw,
              header: r.headers[WEBHOOK_HEADERS.signature],
              secret: endpoint.secret!,
            }) === 'ok',
        ),
      ).toBe(true);
    });

    it('disables an endpoint that keeps failing, says so on webhooks.events.v1, and redelivers on request once it is enabled again', async () => {
      const accountId = newAccountId();
      const hooks = webhooksApi(own.url, accountId, adminKey());
      let healthy = false;
      const target = receiver.path(() => (healthy ? 200 : 503));
      const endpoint = (await hooks.create({ url: target.url, eventTypes: ['quota.*'] })).body;
      const consumer = await watch(WEBHOOKS_TOPIC);
      try {
        const event = quotaCrossed(accountId);
        await publishQuota(kafka, event);
        const disabled = await eventually(
          async () => {
            const view = (await hooks.get(endpoint.id)).body;
            return view.status === 'disabled' ? view : undefined;
          },
          { timeoutMs: 40_000, what: 'the endpoint disabled' },
        );
        expect(disabled).toMatchObject({ disabledReason: 'failing', health: { consecutiveFailures: 4 } });
        const announced = await eventually(
          () =>
            consumer.seen.find(
              (e) => e.type === 'webhook_endpoint.disabled' && e.aggregateId === endpoint.id,
            ),
          { timeoutMs: 30_000, what: 'webhook_endpoint.disabled on webhooks.events.v1' },
        );
        expect(announced).toMatchObject({
          accountId,
          source: 'webhooks',
          data: { endpointId: endpoint.id, reason: 'failing', consecutiveFailures: 4, lastError: 'HTTP 503' },
        });
        // Disabled: the delivery waits, not attempted again.
        const [waiting] = (await hooks.deliveries(endpoint.id)).body.deliveries;
        expect(waiting).toMatchObject({ eventId: event.eventId, status: 'pending', attempts: 4 });
        expect((await hooks.redeliver(endpoint.id, waiting.id)).status).toBe(409);

        healthy = true;
        expect((await hooks.update(endpoint.id, { enabled: true })).body.status).toBe('enabled');
        const done = await deliveryOf(hooks, endpoint.id, event.eventId as string, 'succeeded');
        expect(done.attempts).toBe(5);

        const again = await hooks.redeliver(endpoint.id, done.id);
        expect(again.status).toBe(202);
        expect(again.body).toMatchObject({
          redeliveryOf: done.id,
          eventId: event.eventId,
          status: 'pending',
        });
        await eventually(
          async () =>
            (await hooks.delivery(endpoint.id, again.body.id)).body.status === 'succeeded' ? true : undefined,
          {
            what: 'the redelivery',
          },
        );
        const copies = receiver.to(target.path).filter((r) => r.answered === 200);
        expect(copies.map((r) => r.event.id)).toEqual([event.eventId, event.eventId]);
        expect(copies[1].headers[WEBHOOK_HEADERS.deliveryId]).toBe(again.body.id);
        expect(copies[1].raw.equals(copies[0].raw)).toBe(true);
      } finally {
        await consumer.stop();
      }
    });
  });

  it('resumes a delivery whose worker was killed mid-retry, without losing or duplicating its success', async () => {
    const webhooks = ownWebhooks();
    databases.push(webhooks.database);
    const doomed = await webhooks.start();
    instances.push(doomed);
    const accountId = newAccountId();
    // Two failures, then the third attempt is held open until the process dies; later ones succeed.
    const target = receiver.path((n) => (n <= 2 ? 500 : n === 3 ? 'hang' : 200));
    const before = webhooksApi(doomed.url, accountId, adminKey());
    const endpoint = (await before.create({ url: target.url, eventTypes: ['quota.threshold_crossed'] })).body;
    const event = quotaCrossed(accountId);
    await publishQuota(kafka, event);
    await eventually(() => (receiver.to(target.path).length === 3 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the third attempt in flight',
    });

    process.kill(doomed.pid, 'SIGKILL');
    expect(await doomed.exited).toBe('SIGKILL');

    const restarted = await webhooks.start();
    instances.push(restarted);
    const after = webhooksApi(restarted.url, accountId, adminKey());
    const delivery = await deliveryOf(after, endpoint.id, event.eventId as string, 'succeeded');
    expect(delivery.attemptLog.map((a) => [a.attempt, a.outcome, a.statusCode])).toEqual([
      [1, 'failed', 500],
      [2, 'failed', 500],
      [3, 'interrupted', null],
      [4, 'succeeded', 200],
    ]);

    // A later event through the restarted instance arrives; the first was delivered once, successfully once.
    const later = quotaCrossed(accountId);
    await publishQuota(kafka, later);
    await deliveryOf(after, endpoint.id, later.eventId as string, 'succeeded');
    const deliveries = (await after.deliveries(endpoint.id)).body.deliveries;
    expect(deliveries.filter((d) => d.eventId === event.eventId)).toHaveLength(1);
    const requests = receiver.to(target.path).filter((r) => r.event.id === event.eventId);
    expect(requests.map((r) => r.answered)).toEqual([500, 500, undefined, 200]);
    expect(new Set(requests.map((r) => r.headers[WEBHOOK_HEADERS.deliveryId]))).toEqual(
      new Set([delivery.id]),
    );
  });

  describe("the stack's instance", () => {
    const stackWebhooks = serviceUrl('webhooks');

    it.each([
      'http://127.0.0.1:9/hook',
      'http://localhost:9/hook',
      'http://0.0.0.0/hook',
      'http://10.1.2.3/hook',
      'http://172.16.0.10/hook',
      'http://192.168.1.1/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://[fe80::1]/hook',
      'http://[fd00::1]/hook',
      'http://0x7f000001/hook',
      'ftp://93.184.215.14/hook',
      'file:///etc/passwd',
    ])('refuses to register %s, naming the url field', async (url) => {
      const res = await api(stackWebhooks, 'POST', `/v1/accounts/${newAccountId()}/webhook-endpoints`, {
        key: adminKey(),
        body: { url, eventTypes: ['*'] },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.details).toEqual([{ field: 'url', reasons: [expect.any(String)] }]);
    });

    it('refuses, when delivering, an address that turned private after registration (DNS rebinding)', async () => {
      const accountId = newAccountId();
      const hooks = webhooksApi(stackWebhooks, accountId, adminKey());
      const target = receiver.path();
      // Registered while it pointed at a public address ...
      const endpoint = (await hooks.create({ url: 'http://93.184.215.14/hook', eventTypes: ['quota.*'] }))
        .body;
      const db = new Client({ connectionString: `${stackVar('POSTGRES_URL')}/metering_webhooks` });
      await db.connect();
      try {
        // ... then the name resolves to loopback: stood in for by changing the stored URL.
        for (const host of ['127.0.0.1', 'localhost']) {
          await db.query(`UPDATE webhook_endpoints SET url = $2 WHERE id = $1`, [
            endpoint.id,
            `http://${host}:${receiver.port}${target.path}`,
          ]);
          const event = quotaCrossed(accountId);
          await publishQuota(kafka, event);
          const delivery = await eventually(
            async () => {
              const [d] = (await hooks.deliveries(endpoint.id)).body.deliveries.filter(
                (x) => x.eventId === event.eventId,
              );
              return d && d.attempts >= 1 && d.lastError ? d : undefined;
            },
            { timeoutMs: 30_000, what: `an attempt to ${host}` },
          );
          expect(delivery.lastError).toMatch(
            /^refused: (localhost: )?(127\.0\.0\.1|::1) is a loopback address$/,
          );
          expect(delivery.lastStatusCode).toBeNull();
        }
        expect(receiver.to(target.path)).toEqual([]);
      } finally {
        await db.end();
        await hooks.remove(endpoint.id);
      }
    });

    it("answers another account's endpoints as not found and lets viewers only read", async () => {
      const [a, b] = await Promise.all([tenancy(1), tenancy(1)]);
      const owner = webhooksApi(stackWebhooks, a.accountId, a.ownerKey);
      const endpoint = (await owner.create({ url: 'https://93.184.215.14/in', eventTypes: ['invoice.*'] }))
        .body;
      const intruder = webhooksApi(stackWebhooks, a.accountId, b.ownerKey);
      expect((await intruder.get(endpoint.id)).status).toBe(404);
      expect((await intruder.deliveries(endpoint.id)).status).toBe(404);
      expect((await intruder.create({ url: 'https://93.184.215.14/x', eventTypes: ['*'] })).status).toBe(404);
      expect((await intruder.remove(endpoint.id)).status).toBe(404);
      // B's own path does not reach A's endpoint either.
      expect((await webhooksApi(stackWebhooks, b.accountId, b.ownerKey).get(endpoint.id)).status).toBe(404);

      const viewer = webhooksApi(stackWebhooks, a.accountId, a.viewerKey);
      expect((await viewer.get(endpoint.id)).status).toBe(200);
      expect((await viewer.create({ url: 'https://93.184.215.14/v', eventTypes: ['*'] })).status).toBe(403);
      expect((await viewer.update(endpoint.id, { enabled: false })).status).toBe(403);
      expect((await viewer.remove(endpoint.id)).status).toBe(403);
      expect((await owner.remove(endpoint.id)).status).toBe(204);
      expect((await owner.get(endpoint.id)).status).toBe(404);
    });

    it('names the field of a bad subscription', async () => {
      const res = await api(stackWebhooks, 'POST', `/v1/accounts/${newAccountId()}/webhook-endpoints`, {
        key: adminKey(),
        body: { url: 'https://93.184.215.14/in', eventTypes: ['invoice.finalized', 'api_key.issued'] },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.details).toEqual([
        { field: 'eventTypes', reasons: [expect.stringMatching(/^"api_key.issued"/)] },
      ]);
    });

    it('names a malformed account id or body field', async () => {
      const badId = await api(
        stackWebhooks,
        'GET',
        `/v1/accounts/${encodeURIComponent('no such/id')}/webhook-endpoints`,
        {
          key: adminKey(),
        },
      );
      expect(badId.status).toBe(400);
      expect(badId.body.error.details).toEqual([{ field: 'id', reasons: [expect.any(String)] }]);
      const badBody = await api(stackWebhooks, 'POST', `/v1/accounts/${newAccountId()}/webhook-endpoints`, {
        key: adminKey(),
        body: { eventTypes: 'invoice.paid' },
      });
      expect(badBody.status).toBe(400);
      expect(badBody.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
        'eventTypes',
        'url',
      ]);
    });
  });
});

const WEBHOOKS_TOPIC = 'webhooks.events.v1';

/** Reads a topic from its start in a group of its own, collecting its JSON values. */
async function watch(topic: string): Promise<{ seen: Record<string, any>[]; stop: () => Promise<void> }> {
  const consumer: Consumer = new Kafka({
    brokers: kafkaBrokers(),
    clientId: 'e2e-webhooks',
    logLevel: logLevel.NOTHING,
  }).consumer({
    groupId: uniqueName('e2e-webhooks-events'),
    maxWaitTimeInMs: 200,
  });
  const seen: Record<string, any>[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: ({ message }) => {
      try {
        seen.push(JSON.parse(message.value?.toString() ?? '') as Record<string, any>);
      } catch {
        // not ours to judge
      }
      return Promise.resolve();
    },
  });
  return { seen, stop: () => consumer.disconnect() };
}
