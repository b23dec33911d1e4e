import {
  apiCallEvent,
  eventually,
  expectBooksBalance,
  kafkaControl,
  mockBrokerIds,
  openBooks,
  postEvents,
  provisionTenants,
  serviceUrl,
  untilUsageEvents,
} from '@metering/testing';

const ingestion = serviceUrl('ingestion');

describe('ingestion durability', () => {
  it('answers 503 with Retry-After while Kafka is down, accepts nothing, and accepts the retry once it is back', async () => {
    const books = await openBooks();
    const account = await provisionTenants(1);
    const [{ tenantId, apiKey }] = account.tenants;
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
    books.accepted.record(tenantId, events, retried);
    // Consumers that lost every broker rejoin with kafkajs' growing backoff: allow them time.
    await untilUsageEvents(tenantId, 20, 'api_calls', 90_000);
    await expectBooksBalance(account, books);
  });
});
