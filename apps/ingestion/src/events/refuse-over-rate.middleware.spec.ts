import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Body, Controller, HttpCode, type INestApplication, Module, Post } from '@nestjs/common';
import { ServiceConfig } from '@metering/config';
import { createLogger } from '@metering/observability';
import { createServiceApp } from '@metering/service-kit';
import { refuseOverRateUnread } from './refuse-over-rate.middleware';
import { TenantRateLimiter } from './tenant-rate-limiter';

const received: unknown[] = [];

@Controller('v1/events')
class RecordingController {
  @Post()
  @HttpCode(202)
  ingest(@Body() body: unknown) {
    received.push(body);
    return { ok: true };
  }
}

@Module({ controllers: [RecordingController] })
class RecordingModule {}

const KEYS: Record<string, { tenantId: string; accountId: string }> = {
  'Bearer key-a': { tenantId: 'a', accountId: 'acc' },
  'Bearer key-b': { tenantId: 'b', accountId: 'acc' },
};

describe(refuseOverRateUnread.name, () => {
  let app: INestApplication;
  let port: number;
  let clock = 0;
  const limiter = new TenantRateLimiter(100, 200, () => clock);
  const limits = { maxHoldMs: 50, maxHeld: 10 };

  beforeAll(async () => {
    const config = Object.assign(new ServiceConfig(), { KAFKA_BROKERS: ['127.0.0.1:9092'] });
    app = await createServiceApp(
      {
        name: 'ingestion',
        description: 'test',
        configClass: ServiceConfig,
        module: () => RecordingModule,
        jsonMediaTypes: ['application/cloudevents-batch+json'],
        beforeBody: () =>
          refuseOverRateUnread(
            { recentTenant: (header) => (header ? KEYS[header] : undefined) },
            limiter,
            limits,
          ),
      },
      config,
      createLogger('ingestion', 'silent'),
    );
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
    // Tenant a is refused until 150 more events would fit (1.5 s); b has tokens left.
    limiter.take('a', 200);
    limiter.take('a', 150);
    limiter.take('b', 10);
  });

  afterAll(() => app.close());

  beforeEach(() => (received.length = 0));

  interface Answer {
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: unknown;
    reusedSocket: boolean;
    ms: number;
  }

  const post = (
    path: string,
    authorization: string,
    body: Buffer | string,
    agent?: Agent,
    signal?: AbortSignal,
  ) =>
    new Promise<Answer>((resolve, reject) => {
      const started = performance.now();
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path,
          method: 'POST',
          agent,
          signal,
          headers: { 'content-type': 'application/cloudevents-batch+json', authorization },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: JSON.parse(Buffer.concat(chunks).toString()) as unknown,
              reusedSocket: req.reusedSocket,
              ms: performance.now() - started,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  it('answers 429 with Retry-After and the usual error body after a hold, without parsing the body', async () => {
    // Not JSON at all: a parsed body would be a 400.
    const answer = await post('/v1/events', 'Bearer key-a', 'not json');
    expect(answer.ms).toBeGreaterThanOrEqual(45);
    expect(answer).toMatchObject({
      status: 429,
      headers: { 'retry-after': '2' },
      body: {
        error: {
          code: 'rate_limited',
          message: 'tenant a is over its event rate',
          details: { retryAfterSeconds: 2, eventsPerSecond: 100, burst: 200 },
        },
      },
    });
    expect(received).toEqual([]);
  });

  it('keeps the connection usable after refusing a large body it did not read', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const large = Buffer.from(JSON.stringify(Array.from({ length: 20_000 }, (_, i) => ({ id: `e${i}` }))));
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await post('/v1/events', 'Bearer key-a', large, agent));
      answers.push(await post('/v1/events', 'Bearer key-b', '[{"id":"x"}]', agent));
      expect(answers.map((a) => a.status)).toEqual([429, 429, 429, 202]);
      expect(answers.slice(1).every((a) => a.reusedSocket)).toBe(true);
      expect(received).toEqual([[{ id: 'x' }]]);
    } finally {
      agent.destroy();
    }
  });

  it('lets a tenant with tokens left through', async () => {
    expect((await post('/v1/events', 'Bearer key-b', '[]')).status).toBe(202);
  });

  it('lets a key it has not seen accepted take the normal path', async () => {
    expect((await post('/v1/events', 'Bearer key-unknown', '[]')).status).toBe(202);
    expect((await post('/v1/events', 'key-a', '[]')).status).toBe(202);
  });

  it('leaves other paths alone', async () => {
    expect((await post('/v1/other', 'Bearer key-a', '[]')).status).toBe(404);
  });

  it('answers at once past the most requests it may hold, and frees the place of a client that gave up', async () => {
    Object.assign(limits, { maxHoldMs: 400, maxHeld: 1 });
    try {
      const gaveUp = new AbortController();
      const first = post('/v1/events', 'Bearer key-a', '[]', undefined, gaveUp.signal).catch(() => 'aborted');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = await post('/v1/events', 'Bearer key-a', '[]');
      expect(second).toMatchObject({ status: 429 });
      expect(second.ms).toBeLessThan(200);
      gaveUp.abort();
      expect(await first).toBe('aborted');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await post('/v1/events', 'Bearer key-a', '[]')).ms).toBeGreaterThanOrEqual(350);
    } finally {
      Object.assign(limits, { maxHoldMs: 50, maxHeld: 10 });
    }
  });

  it('lets a held request go on as usual once the tenant could be admitted', async () => {
    limits.maxHoldMs = 200;
    setTimeout(() => (clock = 1_500), 50);
    const answer = await post('/v1/events', 'Bearer key-a', '[{"id":"late"}]');
    expect(answer).toMatchObject({ status: 202 });
    expect(answer.ms).toBeGreaterThanOrEqual(150);
    expect(received).toEqual([[{ id: 'late' }]]);
  });
});
