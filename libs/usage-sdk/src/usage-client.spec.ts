import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  backoffDelayMs,
  parseRetryAfter,
  UsageClient,
  UsageSdkError,
  type EventOutcome,
  type UsageClientOptions,
  type UsageCloudEvent,
} from './usage-client';

const API_KEY = 'test-key';
const SOURCE = 'usage-sdk/spec';
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const CLOUDEVENT_KEYS = new Set(['specversion', 'id', 'source', 'type', 'subject', 'time', 'data']);

type WireEvent = UsageCloudEvent;

interface Received {
  /** Arrival time, performance.now(). */
  at: number;
  raw: string;
  events: WireEvent[];
}

type Reply = { status: number; headers?: Record<string, string>; body?: unknown } | 'hang';
type Responder = (request: Received, n: number) => Reply | Promise<Reply>;

/** A 202 answer as the ingestion service builds it, one outcome per event. */
function answer(
  events: WireEvent[],
  decide: (event: WireEvent, index: number) => { status: string; reasons?: string[] } = () => ({
    status: 'accepted',
  }),
): Reply {
  const results = events.map((event, index) => ({ index, id: event.id, ...decide(event, index) }));
  const listed = (status: string) =>
    results.filter((r) => r.status === status).map(({ index, id, reasons }) => ({ index, id, reasons }));
  return {
    status: 202,
    body: {
      accepted: results.filter((r) => r.status === 'accepted').length,
      duplicates: results.filter((r) => r.status === 'duplicate').length,
      rejected: listed('rejected'),
      conflicts: listed('conflict'),
      results,
    },
  };
}

const failure = (status: number, code: string, headers: Record<string, string> = {}): Reply => ({
  status,
  headers,
  body: { error: { code, message: `${code} from the test server`, details: { status } } },
});

/** What the ingestion endpoint requires of a request; an empty list when it is well formed. */
function checkWire(req: IncomingMessage, raw: string): string[] {
  const problems: string[] = [];
  if (req.method !== 'POST') problems.push(`method: ${req.method}`);
  if (req.url !== '/v1/events') problems.push(`path: ${req.url}`);
  if (req.headers.authorization !== `Bearer ${API_KEY}`) problems.push('authorization header');
  if (req.headers['content-type'] !== 'application/cloudevents-batch+json') {
    problems.push(`content-type: ${req.headers['content-type']}`);
  }
  if (Buffer.byteLength(raw) > 1_048_576) problems.push('body over 1 MiB');
  let body: any;
  try {
    body = JSON.parse(raw);
  } catch {
    return [...problems, 'body: not JSON'];
  }
  if (!Array.isArray(body) || body.length === 0) return [...problems, 'body: not a non-empty array'];
  body.forEach((e: any, i: number) => {
    const bad = (what: string) => problems.push(`event ${i}: ${what}`);
    if (typeof e !== 'object' || e === null) {
      bad('not an object');
      return;
    }
    if (e.specversion !== '1.0') bad('specversion');
    if (typeof e.id !== 'string' || !e.id) bad('id');
    if (e.source !== SOURCE) bad(`source ${e.source}`);
    if (typeof e.type !== 'string' || !e.type) bad('type');
    if (e.subject !== undefined && (typeof e.subject !== 'string' || !e.subject)) bad('subject');
    if (typeof e.time !== 'string' || !RFC3339.test(e.time)) bad(`time ${e.time}`);
    if (typeof e.data !== 'object' || e.data === null || Array.isArray(e.data)) bad('data');
    for (const key of Object.keys(e)) if (!CLOUDEVENT_KEYS.has(key)) bad(`unexpected attribute ${key}`);
  });
  return problems;
}

/** Plays the ingestion service on 127.0.0.1 and records and checks every request it gets. */
class FakeIngestion {
  readonly received: Received[] = [];
  readonly problems: string[] = [];
  respond: Responder = (request) => answer(request.events);
  port = 0;
  maxConcurrent = 0;
  private open = 0;
  private server: Server | undefined;
  private waiters: { count: number; resolve: () => void }[] = [];

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = this.port): Promise<void> {
    const server = createServer((req, res) => {
      this.open += 1;
      this.maxConcurrent = Math.max(this.maxConcurrent, this.open);
      res.on('close', () => (this.open -= 1));
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const problems = checkWire(req, raw);
        const received: Received = {
          at: performance.now(),
          raw,
          events: problems.length ? [] : JSON.parse(raw),
        };
        this.received.push(received);
        this.problems.push(...problems);
        this.waiters = this.waiters.filter((w) =>
          this.received.length >= w.count ? (w.resolve(), false) : true,
        );
        void Promise.resolve(
          problems.length ? failure(400, 'invalid_request') : this.respond(received, this.received.length),
        ).then((reply) => {
          if (reply === 'hang') return;
          res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
          res.end(JSON.stringify(reply.body ?? {}));
        });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resolves once `count` requests in all have arrived. */
  async requests(count: number): Promise<Received[]> {
    if (this.received.length < count) {
      await new Promise<void>((resolve) => this.waiters.push({ count, resolve }));
    }
    return this.received;
  }
}

const idsOf = (request: Received): string[] => request.events.map((e) => e.id);

/** The error a promise rejects with, which must be a UsageSdkError. */
async function failureOf(promise: Promise<unknown>): Promise<UsageSdkError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof UsageSdkError) return err;
    throw err;
  }
  throw new Error('expected the promise to reject');
}

describe(UsageClient.name, () => {
  let server: FakeIngestion;
  let clients: UsageClient[];

  const newClient = (options: Partial<UsageClientOptions> = {}): UsageClient => {
    const client = new UsageClient({
      baseUrl: server.baseUrl,
      apiKey: API_KEY,
      source: SOURCE,
      flushIntervalMs: 10,
      timeoutMs: 2_000,
      ...options,
      retry: { initialDelayMs: 5, maxDelayMs: 20, maxAttempts: 5, ...options.retry },
    });
    clients.push(client);
    return client;
  };

  /** A fetch that tells when a request could not reach the server. */
  const fetchWatchingRefusals = () => {
    let refused: () => void = () => undefined;
    const firstRefusal = new Promise<void>((resolve) => (refused = resolve));
    const watching: typeof fetch = async (input, init) => {
      try {
        return await fetch(input, init);
      } catch (err) {
        refused();
        throw err;
      }
    };
    return { fetch: watching, firstRefusal };
  };

  beforeEach(async () => {
    server = new FakeIngestion();
    clients = [];
    await server.start();
  });

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.stop();
    expect(server.problems).toEqual([]);
  });

  it('posts CloudEvents 1.0 batches with the API key, the batch media type and the configured source', async () => {
    const before = Date.now();
    const outcome = await newClient().track({ type: 'api.call', subject: 'user-1', data: { count: 2 } });

    const [request] = await server.requests(1);
    expect(request.events).toEqual([
      {
        specversion: '1.0',
        id: expect.stringMatching(UUID),
        source: SOURCE,
        type: 'api.call',
        subject: 'user-1',
        time: expect.stringMatching(RFC3339),
        data: { count: 2 },
      },
    ]);
    expect(Date.parse(request.events[0].time)).toBeGreaterThanOrEqual(before - 1);
    expect(outcome).toEqual({ id: request.events[0].id, status: 'accepted' });
  });

  it('sends the id and time the caller gives', async () => {
    const time = new Date('2025-01-02T03:04:05.678Z');
    await newClient().track({ type: 'api.call', data: {}, id: 'evt-1', time });

    const [request] = await server.requests(1);
    expect(request.events).toEqual([
      expect.objectContaining({ id: 'evt-1', time: '2025-01-02T03:04:05.678Z' }),
    ]);
    expect(request.events[0]).not.toHaveProperty('subject');
  });

  it('sends a full batch at once without waiting for the flush interval', async () => {
    const client = newClient({ maxBatch: 3, flushIntervalMs: 60_000 });
    const outcomes = Array.from({ length: 7 }, (_, n) => client.track({ type: 'api.call', data: { n } }));

    await Promise.all(outcomes.slice(0, 6));
    expect(server.received.map((r) => r.events.length)).toEqual([3, 3]);
    await client.flush();
    expect(server.received.map((r) => r.events.length)).toEqual([3, 3, 1]);
    expect(server.received.flatMap((r) => r.events.map((e) => e.data.n))).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('sends a partial batch when the flush interval ends', async () => {
    const client = newClient({ maxBatch: 100, flushIntervalMs: 50 });
    const started = performance.now();
    await Promise.all([1, 2, 3].map((n) => client.track({ type: 'api.call', data: { n } })));

    expect(server.received.map((r) => r.events.length)).toEqual([3]);
    expect(server.received[0].at - started).toBeGreaterThanOrEqual(40);
  });

  it('keeps request bodies under maxBatchBytes', async () => {
    const client = newClient({ maxBatch: 100, maxBatchBytes: 2_500, flushIntervalMs: 60_000 });
    const pad = 'x'.repeat(1_000);
    const outcomes = Array.from({ length: 5 }, (_, n) =>
      client.track({ type: 'api.call', data: { n, pad } }),
    );

    await client.flush();
    await Promise.all(outcomes);
    expect(server.received.map((r) => r.events.length)).toEqual([2, 2, 1]);
    for (const request of server.received) expect(Buffer.byteLength(request.raw)).toBeLessThanOrEqual(2_500);
  });

  it('keeps at most maxInFlight requests open', async () => {
    server.respond = async (request) => {
      await sleep(50);
      return answer(request.events);
    };
    const client = newClient({ maxBatch: 1, maxInFlight: 2 });

    await Promise.all([1, 2, 3, 4].map((n) => client.track({ type: 'api.call', data: { n } })));
    expect(server.received).toHaveLength(4);
    expect(server.maxConcurrent).toBe(2);
  });

  it('resolves accepted and duplicate events with their status', async () => {
    server.respond = (request) =>
      answer(request.events, (e) => ({ status: e.data.seen ? 'duplicate' : 'accepted' }));
    const client = newClient();

    const [fresh, seen] = await Promise.all([
      client.track({ type: 'api.call', data: {}, id: 'fresh' }),
      client.track({ type: 'api.call', data: { seen: true }, id: 'seen' }),
    ]);
    expect([fresh, seen]).toEqual([
      { id: 'fresh', status: 'accepted' },
      { id: 'seen', status: 'duplicate' },
    ]);
  });

  it('rejects an event the server rejected, with its reasons, and keeps the others of the batch', async () => {
    server.respond = (request) =>
      answer(request.events, (e) =>
        e.data.bad
          ? { status: 'rejected', reasons: ['data.count: must be a number'] }
          : { status: 'accepted' },
      );
    const client = newClient();

    const good = client.track({ type: 'api.call', data: { count: 1 } });
    const bad = client.track({ type: 'api.call', data: { bad: true }, id: 'bad-1' });
    const error = await failureOf(bad);

    expect(error).toMatchObject({
      code: 'rejected',
      reasons: ['data.count: must be a number'],
      eventId: 'bad-1',
    });
    await expect(good).resolves.toMatchObject({ status: 'accepted' });
    expect(server.received).toHaveLength(1);
  });

  it('rejects an event that conflicts with an earlier one of the same id', async () => {
    server.respond = (request) =>
      answer(request.events, () => ({
        status: 'conflict',
        reasons: ['id: already accepted with a different payload'],
      }));

    const error = await failureOf(newClient().track({ type: 'api.call', data: {}, id: 'evt-9' }));
    expect(error).toMatchObject({
      code: 'conflict',
      reasons: ['id: already accepted with a different payload'],
    });
  });

  it('resends only the events an answer left without an outcome', async () => {
    server.respond = (request, n) =>
      n === 1 ? answer(request.events.slice(0, 1)) : answer(request.events, () => ({ status: 'accepted' }));
    const client = newClient();

    const outcomes = await Promise.all([1, 2, 3].map((n) => client.track({ type: 'api.call', data: { n } })));
    const [first, second] = server.received;
    expect(server.received).toHaveLength(2);
    expect(idsOf(second)).toEqual(idsOf(first).slice(1));
    expect(outcomes.map((o) => o.id)).toEqual(idsOf(first));
  });

  it('waits at least Retry-After after a 429 before retrying, then delivers', async () => {
    server.respond = (request, n) =>
      n === 1 ? failure(429, 'rate_limited', { 'retry-after': '1' }) : answer(request.events);

    const outcome = await newClient().track({ type: 'api.call', data: {} });
    const [first, second] = server.received;
    expect(outcome.status).toBe('accepted');
    expect(second.at - first.at).toBeGreaterThanOrEqual(950);
  });

  it('retries after a 503 and resends the very same events', async () => {
    server.respond = (request, n) =>
      n === 1 ? failure(503, 'event_log_unavailable', { 'retry-after': '0' }) : answer(request.events);
    const client = newClient();

    const outcomes = await Promise.all([1, 2].map((n) => client.track({ type: 'api.call', data: { n } })));
    const [first, second] = server.received;
    expect(server.received).toHaveLength(2);
    expect(second.raw).toBe(first.raw);
    expect(outcomes.map((o) => o.id)).toEqual(idsOf(first));
  });

  it('retries a 500 with backoff', async () => {
    server.respond = (request, n) => (n === 1 ? failure(500, 'internal') : answer(request.events));

    await expect(newClient().track({ type: 'api.call', data: {} })).resolves.toMatchObject({
      status: 'accepted',
    });
    expect(server.received).toHaveLength(2);
  });

  it('retries a refused connection until the server listens', async () => {
    const port = server.port;
    await server.stop();
    const watch = fetchWatchingRefusals();
    const client = newClient({
      fetch: watch.fetch,
      retry: { initialDelayMs: 20, maxDelayMs: 50, maxAttempts: 40 },
    });

    const outcome = client.track({ type: 'api.call', data: {}, id: 'evt-refused' });
    await watch.firstRefusal;
    await server.start(port);

    await expect(outcome).resolves.toEqual({ id: 'evt-refused', status: 'accepted' });
    expect(server.received.map(idsOf)).toEqual([['evt-refused']]);
  });

  it('retries when the server went away and came back', async () => {
    const watch = fetchWatchingRefusals();
    const client = newClient({
      fetch: watch.fetch,
      retry: { initialDelayMs: 20, maxDelayMs: 50, maxAttempts: 40 },
    });
    await client.track({ type: 'api.call', data: {}, id: 'before' });
    const port = server.port;
    await server.stop();

    const outcome = client.track({ type: 'api.call', data: {}, id: 'during' });
    await watch.firstRefusal;
    await server.start(port);

    await expect(outcome).resolves.toEqual({ id: 'during', status: 'accepted' });
    expect(server.received.map(idsOf)).toEqual([['before'], ['during']]);
  });

  it('retries after a timeout with the same ids, where a duplicate answer resolves the event', async () => {
    server.respond = (request, n) =>
      n === 1 ? 'hang' : answer(request.events, () => ({ status: 'duplicate' }));

    const outcome = await newClient({ timeoutMs: 100 }).track({ type: 'api.call', data: {} });
    const [first, second] = server.received;
    expect(second.raw).toBe(first.raw);
    expect(outcome).toEqual({ id: first.events[0].id, status: 'duplicate' });
  });

  it.each([
    [400, 'invalid_batch'],
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [413, 'payload_too_large'],
  ])('fails events on a %d without retrying', async (status, code) => {
    server.respond = () => failure(status, code);
    const client = newClient();

    const errors = await Promise.all(
      [1, 2].map((n) => failureOf(client.track({ type: 'api.call', data: { n } }))),
    );
    expect(errors).toEqual([
      expect.objectContaining({ code, status, eventId: idsOf(server.received[0])[0] }),
      expect.objectContaining({ code, status, eventId: idsOf(server.received[0])[1] }),
    ]);
    expect(server.received).toHaveLength(1);
  });

  it('rejects with attempts_exhausted after maxAttempts retryable failures', async () => {
    server.respond = () => failure(503, 'registry_unavailable', { 'retry-after': '0' });

    const error = await failureOf(
      newClient({ retry: { maxAttempts: 3 } }).track({ type: 'api.call', data: {} }),
    );
    expect(error).toMatchObject({ code: 'attempts_exhausted', status: 503 });
    expect(error.cause).toMatchObject({ code: 'registry_unavailable' });
    expect(server.received).toHaveLength(3);
  });

  it('refuses with queue_full once maxQueue events are unsettled, and drops none of them', async () => {
    const client = newClient({ maxQueue: 2, flushIntervalMs: 60_000 });
    const queued = [1, 2].map((n) => client.track({ type: 'api.call', data: { n } }));

    const error = await failureOf(client.track({ type: 'api.call', data: { n: 3 } }));
    expect(error.code).toBe('queue_full');
    await client.flush();
    await expect(Promise.all(queued)).resolves.toEqual([
      expect.objectContaining({ status: 'accepted' }),
      expect.objectContaining({ status: 'accepted' }),
    ]);
    expect(server.received.map((r) => r.events.map((e) => e.data.n))).toEqual([[1, 2]]);
  });

  it('flush() sends queued events at once and resolves when they have settled', async () => {
    const client = newClient({ flushIntervalMs: 60_000 });
    const settled: EventOutcome[] = [];
    for (const n of [1, 2]) void client.track({ type: 'api.call', data: { n } }).then((o) => settled.push(o));

    await client.flush();
    await Promise.resolve();
    expect(settled).toHaveLength(2);
    expect(client.pending).toBe(0);
  });

  it('close() delivers what was tracked, then track() rejects with closed', async () => {
    const client = newClient({ flushIntervalMs: 60_000 });
    const tracked = client.track({ type: 'api.call', data: {} });

    await client.close();
    await expect(tracked).resolves.toMatchObject({ status: 'accepted' });
    const error = await failureOf(client.track({ type: 'api.call', data: {} }));
    expect(error.code).toBe('closed');
    expect(server.received).toHaveLength(1);
  });

  it('rejects an invalid event at once with invalid_event and its reasons', async () => {
    const client = newClient();

    const error = await failureOf(
      client.track({ type: '', data: [] as unknown as Record<string, unknown>, time: '2025-01-02 03:04:05' }),
    );
    expect(error.code).toBe('invalid_event');
    expect(error.reasons).toEqual([
      'type: must be a non-empty string',
      'data: must be a JSON object',
      'time: must be a valid Date or RFC 3339 string',
    ]);
    expect(client.pending).toBe(0);
  });

  it('rejects an event bigger than maxBatchBytes with event_too_large', async () => {
    const client = newClient({ maxBatchBytes: 1_000 });

    const error = await failureOf(client.track({ type: 'api.call', data: { pad: 'x'.repeat(1_000) } }));
    expect(error.code).toBe('event_too_large');
    expect(client.pending).toBe(0);
  });

  it('reports every failed event to onError, also when nobody awaits track()', async () => {
    server.respond = (request) => answer(request.events, () => ({ status: 'rejected', reasons: ['nope'] }));
    const errors: UsageSdkError[] = [];
    const client = newClient({ onError: (error) => errors.push(error) });

    void client.track({ type: 'api.call', data: {}, id: 'evt-x' });
    await client.flush();
    expect(errors).toEqual([
      expect.objectContaining({ code: 'rejected', eventId: 'evt-x', reasons: ['nope'] }),
    ]);
  });

  describe(parseRetryAfter.name, () => {
    it('reads delay-seconds', () => {
      expect(parseRetryAfter('2', 0)).toBe(2_000);
    });

    it('reads an HTTP date as the time left until it', () => {
      const now = Date.parse('2025-06-01T12:00:00Z');
      expect(parseRetryAfter('Sun, 01 Jun 2025 12:00:03 GMT', now)).toBe(3_000);
    });

    it('ignores a missing or unreadable value', () => {
      expect([parseRetryAfter(null, 0), parseRetryAfter('soon', 0)]).toEqual([undefined, undefined]);
    });
  });

  describe(backoffDelayMs.name, () => {
    const retry = { initialDelayMs: 100, maxDelayMs: 1_000, maxAttempts: 8 };

    it('draws between initialDelayMs and a ceiling that doubles per attempt', () => {
      expect([1, 2, 3].map((attempt) => backoffDelayMs(attempt, retry, () => 0))).toEqual([100, 100, 100]);
      expect([1, 2, 3].map((attempt) => backoffDelayMs(attempt, retry, () => 1))).toEqual([200, 400, 800]);
    });

    it('never exceeds maxDelayMs', () => {
      expect(backoffDelayMs(20, retry, () => 1)).toBe(1_000);
    });
  });
});
