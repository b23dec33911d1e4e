import { apiCallEvent, postEvents, provisionTenants, startInstance, uniqueName } from '@metering/testing';

describe('per-tenant rate limits', () => {
  let instance: { url: string; stop: () => Promise<void> };

  beforeAll(async () => {
    // An instance of its own with a small limit: 100 events/s, bursts of 200.
    instance = await startInstance('ingestion', {
      PORT: '3012',
      GRPC_PORT: '50062',
      INGEST_CONSUMER_GROUP: uniqueName('e2e-direct'),
      INGEST_TENANT_EVENTS_PER_SECOND: '100',
      INGEST_TENANT_BURST_EVENTS: '200',
    });
  });

  afterAll(() => instance.stop());

  const batch = (n: number) => Array.from({ length: n }, () => apiCallEvent());

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
});
