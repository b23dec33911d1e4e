import fc from 'fast-check';
import { apiCallEvent, postEvents, provisionTenants, serviceUrl } from '@metering/testing';

const ingestion = serviceUrl('ingestion');

const post = (body: string, apiKey: string, contentType = 'application/cloudevents-batch+json') =>
  fetch(`${ingestion}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': contentType, authorization: `Bearer ${apiKey}` },
    body,
  });

describe('ingestion validation against the meter catalog', () => {
  let apiKey: string;

  beforeAll(async () => {
    ({
      tenants: [{ apiKey }],
    } = await provisionTenants(1));
  });

  const voice = (minutes: unknown) => apiCallEvent({ type: 'call.voice.completed', data: { minutes } });

  it('accepts the valid events of a batch and names each invalid one with its reasons', async () => {
    const events = [
      apiCallEvent(),
      apiCallEvent({ type: 'api.calls' }),
      voice('12'),
      voice(3.5),
      apiCallEvent({ type: 'user.active' }),
      apiCallEvent({ type: 'user.active', subject: 'user-1' }),
      apiCallEvent({ type: 'storage.sampled', data: { mb: -5 } }),
      voice(-2),
    ];
    const { status, body } = await postEvents(ingestion, events, apiKey);
    expect(status).toBe(202);
    expect(body.accepted).toBe(4);
    expect(body.rejected).toEqual([
      { index: 1, id: events[1].id, reasons: ['type: no meter counts events of type "api.calls"'] },
      {
        index: 2,
        id: events[2].id,
        reasons: ['data.minutes: must be a finite number for meter voice_minutes'],
      },
      { index: 4, id: events[4].id, reasons: ['subject: required by meter mau (unique count of subjects)'] },
      {
        index: 6,
        id: events[6].id,
        reasons: ['data.mb: must not be negative for meter storage_mb (it takes no corrections)'],
      },
    ]);
  });

  it('rejects a value that overflows to Infinity (1e309) as not finite', async () => {
    const event = voice(0);
    const body = JSON.stringify([event]).replace('"minutes":0', '"minutes":1e309');
    const res = await post(body, apiKey);
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({
      accepted: 0,
      rejected: [{ index: 0, reasons: ['data.minutes: must be a finite number for meter voice_minutes'] }],
    });
  });

  it('names missing CloudEvents attributes', async () => {
    const { specversion: _s, source: _source, ...partial } = apiCallEvent();
    const { body } = await postEvents(ingestion, [partial], apiKey);
    expect(body.rejected[0].reasons).toEqual(['specversion: must be "1.0"', 'source: must be a string']);
  });

  it('rejects an over-long id and an over-large data object, and answers 413 for an over-large body', async () => {
    const { body } = await postEvents(
      ingestion,
      [apiCallEvent({ id: 'x'.repeat(257) }), apiCallEvent({ data: { blob: 'y'.repeat(40_000) } })],
      apiKey,
    );
    expect(body.rejected.map((r) => r.reasons)).toEqual([
      ['id: must be at most 256 characters'],
      ['data: larger than 32768 characters of JSON'],
    ]);
    const huge = JSON.stringify(
      Array.from({ length: 40 }, () => apiCallEvent({ data: { blob: 'z'.repeat(30_000) } })),
    );
    const res = await post(huge, apiKey);
    expect(res.status).toBe(413);
  });

  it('never answers 5xx or crashes, whatever JSON it is sent', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue(),
          fc.array(fc.jsonValue(), { maxLength: 5 }),
          fc.array(
            fc.record(
              {
                specversion: fc.oneof(fc.constant('1.0'), fc.jsonValue()),
                id: fc.oneof(fc.uuid(), fc.jsonValue()),
                source: fc.oneof(fc.constant('fuzz'), fc.jsonValue()),
                type: fc.oneof(
                  fc.constantFrom('api.call', 'call.voice.completed', 'user.active'),
                  fc.jsonValue(),
                ),
                subject: fc.jsonValue(),
                time: fc.oneof(fc.constant(new Date().toISOString()), fc.jsonValue()),
                data: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue()), fc.jsonValue()),
                tenantid: fc.jsonValue(),
              },
              { requiredKeys: [] },
            ),
            { maxLength: 5 },
          ),
        ),
        fc.constantFrom(
          'application/cloudevents-batch+json',
          'application/cloudevents+json',
          'application/json',
        ),
        async (value, contentType) => {
          const res = await post(JSON.stringify(value) ?? 'null', apiKey, contentType);
          expect(res.status).toBeLessThan(500);
          await res.arrayBuffer();
        },
      ),
      { numRuns: 300 },
    );
    // Still serving afterwards.
    expect((await postEvents(ingestion, [apiCallEvent()], apiKey)).body.accepted).toBe(1);
  });
});
