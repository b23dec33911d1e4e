import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { apiCallEvent, postEvents, provisionTenants, startInstance, uniqueName } from '@metering/testing';

/** What a producer that ignores `Retry-After` saw: answers by status, and the events its 202s counted. */
interface HogReport {
  statuses: Record<string, number>;
  errors: string[];
  accepted: number;
  duplicates: number;
}

/**
 * A producer that ignores `Retry-After`, in a thread of its own so its sending does not delay the
 * measuring thread: `connections` keep-alive connections each re-send the same body the moment
 * an answer arrives, until told to stop. Posts 'running' after its first answer, then its report.
 */
const HOG = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { url, authorization, body, connections } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const report = { statuses: {}, errors: [], accepted: 0, duplicates: 0 };
let stopping = false;
let running = false;
parentPort.on('message', () => (stopping = true));
const send = () =>
  new Promise((resolve) => {
    const req = http.request(
      url + '/v1/events',
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/cloudevents-batch+json', authorization },
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          report.statuses[res.statusCode] = (report.statuses[res.statusCode] || 0) + 1;
          if (res.statusCode === 202) {
            const answer = JSON.parse(Buffer.concat(chunks).toString());
            report.accepted += answer.accepted;
            report.duplicates += answer.duplicates;
          }
          if (!running) (running = true), parentPort.postMessage('running');
          resolve();
        });
      },
    );
    req.on('error', (err) => {
      report.errors.push(err.message);
      resolve();
    });
    req.end(body);
  });
Promise.all(
  Array.from({ length: connections }, async () => {
    while (!stopping) await send();
  }),
).then(() => {
  agent.destroy();
  parentPort.postMessage(report);
});
`;

async function ignoringRetryAfter<T>(
  options: { url: string; apiKey: string; body: string; connections: number },
  during: () => Promise<T>,
): Promise<{ result: T; hog: HogReport }> {
  const worker = new Worker(HOG, {
    eval: true,
    workerData: {
      url: options.url,
      authorization: `Bearer ${options.apiKey}`,
      body: Buffer.from(options.body),
      connections: options.connections,
    },
  });
  try {
    // `once` rejects if the thread fails instead.
    expect((await once(worker, 'message'))[0]).toBe('running');
    const result = await during();
    worker.postMessage('stop');
    const [hog] = (await once(worker, 'message')) as [HogReport];
    return { result, hog };
  } finally {
    await worker.terminate();
  }
}

/** Enough attributes that parsing a batch of the noisy tenant's events costs the process something. */
const HOG_ATTRIBUTES = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`attribute${i}`, i]));

describe('per-tenant rate limits', () => {
  let instance: { url: string; stop: () => Promise<void> };

  beforeAll(async () => {
    // An instance of its own with a small limit: 100 events/s, bursts of 200.
    instance = await startInstance('ingestion', {
      // Groups of its own: joining and leaving the stack's would pause its consumers for a rebalance.
      INGEST_CONSUMER_GROUP: uniqueName('e2e-direct'),
      CLOSED_PERIODS_CONSUMER_GROUP: uniqueName('e2e-closed-periods'),
      INGEST_TENANT_EVENTS_PER_SECOND: '100',
      INGEST_TENANT_BURST_EVENTS: '200',
    });
  });

  afterAll(() => instance.stop());

  const batch = (n: number) => Array.from({ length: n }, () => apiCallEvent());

  /** One event every 40 ms (within the limit) for `ms`: each request's latency. */
  const paced = async (apiKey: string, ms: number) => {
    const latencies: number[] = [];
    for (const end = Date.now() + ms; Date.now() < end;) {
      const started = performance.now();
      expect((await postEvents(instance.url, batch(1), apiKey)).status).toBe(202);
      latencies.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    return latencies;
  };
  const p99 = (latencies: number[]) =>
    [...latencies].sort((x, y) => x - y)[Math.ceil(latencies.length * 0.99) - 1];

  it("answers 429 with Retry-After over a tenant's limit, accepting nothing of the refused request", async () => {
    const {
      tenants: [{ apiKey }],
    } = await provisionTenants(1);
    expect((await postEvents(instance.url, batch(200), apiKey)).body.accepted).toBe(200);
    const events = batch(150);
    const res = await fetch(`${instance.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents-batch+json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify(events),
    });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await res.json()).toMatchObject({ error: { code: 'rate_limited' } });
    // After the advised wait the same events go through, all new: none was taken by the 429.
    await new Promise((resolve) => setTimeout(resolve, Number(res.headers.get('retry-after')) * 1000));
    expect((await postEvents(instance.url, events, apiKey)).body).toMatchObject({
      accepted: 150,
      duplicates: 0,
    });
  });

  it("does not let one tenant's burst use up another tenant's allowance", async () => {
    const {
      tenants: [noisy, quiet],
    } = await provisionTenants(2);
    const flood = Promise.all(
      Array.from({ length: 30 }, () => postEvents(instance.url, batch(100), noisy.apiKey)),
    );
    const quietAnswers = [];
    for (let i = 0; i < 5; i++) quietAnswers.push(await postEvents(instance.url, batch(20), quiet.apiKey));
    const noisyAnswers = await flood;
    expect(noisyAnswers.filter((a) => a.status === 429).length).toBeGreaterThan(0);
    expect(quietAnswers.map((a) => a.status)).toEqual([202, 202, 202, 202, 202]);
  });

  it("keeps another tenant's p99 latency while one tenant bursts past its limit", async () => {
    const {
      tenants: [noisy, quiet],
    } = await provisionTenants(2);
    await paced(quiet.apiKey, 200); // keys checked and cached
    const before = p99(await paced(quiet.apiKey, 3_000));

    // Sixteen producers of the noisy tenant send its burst size at once, again and again, waiting
    // at least as long as a 429 advises. Without the limit each request would be taken and published.
    let bursting = true;
    let refused = 0;
    const burst = Promise.all(
      Array.from({ length: 16 }, async () => {
        while (bursting) {
          const res = await fetch(`${instance.url}/v1/events`, {
            method: 'POST',
            headers: {
              'content-type': 'application/cloudevents-batch+json',
              authorization: `Bearer ${noisy.apiKey}`,
            },
            body: JSON.stringify(batch(200)),
          });
          await res.arrayBuffer();
          if (res.status === 429) {
            refused++;
            // At least as long as advised, spread like a client's jittered backoff.
            const waitMs = Number(res.headers.get('retry-after')) * 1000 * (1 + Math.random());
            await new Promise((resolve) => setTimeout(resolve, waitMs));
          }
        }
      }),
    );
    const during = p99(await paced(quiet.apiKey, 3_000));
    bursting = false;
    await burst;
    console.info(
      `quiet tenant's p99: ${before.toFixed(1)} ms alone, ${during.toFixed(1)} ms during the burst`,
    );
    expect(refused).toBeGreaterThan(0);
    // Shared machines jitter: the bound is relative, with a floor for very fast baselines.
    expect(during).toBeLessThanOrEqual(Math.max(3 * before, before + 100));
  });

  it("keeps another tenant's p99 latency while one tenant re-sends large batches, ignoring Retry-After", async () => {
    const {
      tenants: [noisy, quiet],
    } = await provisionTenants(2);
    await paced(quiet.apiKey, 200); // keys checked and cached
    const before = p99(await paced(quiet.apiKey, 3_000));

    // Sixteen connections of the noisy tenant re-send one batch of its burst size (large events) the
    // moment an answer arrives, whatever it says: every refusal it gets must stay cheap.
    const events = Array.from({ length: 200 }, () =>
      apiCallEvent({ data: { route: '/v1/things', attributes: HOG_ATTRIBUTES } }),
    );
    const { result: during, hog } = await ignoringRetryAfter(
      { url: instance.url, apiKey: noisy.apiKey, body: JSON.stringify(events), connections: 16 },
      async () => p99(await paced(quiet.apiKey, 3_000)),
    );
    console.info(
      `quiet tenant's p99: ${before.toFixed(1)} ms alone, ${during.toFixed(1)} ms while a tenant ignores Retry-After (${JSON.stringify(hog.statuses)})`,
    );
    // Every request was answered, on connections that stayed usable, with 202 or 429 only.
    expect(hog.errors).toEqual([]);
    expect(Object.keys(hog.statuses).sort()).toEqual(['202', '429']);
    // The same batch, granted again and again, counted once.
    expect(hog.accepted).toBe(events.length);
    expect(hog.duplicates).toBe(events.length * (hog.statuses['202'] - 1));
    expect(during).toBeLessThanOrEqual(Math.max(3 * before, before + 100));
  });
});
