import {
  api,
  apiCallEvent,
  postEvents,
  provisionTenants,
  serviceUrl,
  untilUsageEvents,
} from '@metering/testing';

const ingestion = serviceUrl('ingestion');

describe('ingestion idempotency', () => {
  it('reports a repeated event as a duplicate and a changed payload under the same id as a conflict', async () => {
    const {
      tenants: [{ apiKey }],
    } = await provisionTenants(1);
    const event = apiCallEvent();
    expect((await postEvents(ingestion, [event], apiKey)).body).toMatchObject({ accepted: 1 });
    const again = await postEvents(
      ingestion,
      [event, { ...event, data: { route: '/changed' } }, apiCallEvent()],
      apiKey,
    );
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({
      accepted: 1,
      duplicates: 1,
      conflicts: [{ index: 1, id: event.id, reasons: [expect.stringMatching(/different payload/)] }],
    });

    const single = await api(ingestion, 'POST', '/v1/events', {
      key: apiKey,
      body: { ...event, data: { route: '/other' } },
      headers: { 'content-type': 'application/cloudevents+json' },
    });
    expect(single.status).toBe(409);
    expect(single.body.error.code).toBe('event_conflict');
  });

  it('accepts an event exactly once when fifty identical requests race, and counts it once', async () => {
    const {
      tenants: [{ tenantId, apiKey }],
    } = await provisionTenants(1);
    const event = apiCallEvent();
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => postEvents(ingestion, [event], apiKey)),
    );
    expect(responses.every((r) => r.status === 202)).toBe(true);
    expect(responses.reduce((n, r) => n + r.body.accepted, 0)).toBe(1);
    expect(responses.reduce((n, r) => n + r.body.duplicates, 0)).toBe(49);
    await untilUsageEvents(tenantId, 1);
  });
});
