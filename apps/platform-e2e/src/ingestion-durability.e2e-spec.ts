import {
  apiCallEvent,
  eventually,
  kafkaControl,
  mockBrokerIds,
  postEvents,
  provisionTenants,
  serviceUrl,
  untilUsageEvents,
} from '@metering/testing';

const ingestion = serviceUrl('ingestion');

describe('ingestion durability', () => {
  it('answers 503 with Retry-After while Kafka is down, accepts nothing, and accepts the retry once it is back', async () => {
    const {
      tenants: [{ tenantId, apiKey }],
    } = await provisionTenants(1);
    const events = Array.from({ length: 20 }, () => apiCallEvent());
    const brokers = mockBrokerIds();
    for (const id of brokers) await kafkaControl(`down ${id}`);
    try {
      const res = await fetch(`${ingestion}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents-batch+json', authorization: `Bearer ${apiKey}` },
        body: JSON.stringify(events),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      const body = (await res.json()) as { error: { code: string } };
      expect(body.error.code).toBe('event_log_unavailable');
    } finally {
      for (const id of brokers) await kafkaControl(`up ${id}`);
    }
    // The producer's retry after the outage: every event is new (nothing was claimed), and counted once.
    const retried = await eventually(
      async () => {
        const r = await postEvents(ingestion, events, apiKey);
        return r.status === 202 ? r : undefined;
      },
      { timeoutMs: 30_000, what: 'ingestion to accept after the brokers are back' },
    );
    expect(retried.body).toMatchObject({ accepted: 20, duplicates: 0 });
    await untilUsageEvents(tenantId, 20);
  });
});
