import { randomUUID } from 'node:crypto';
import { CONSTANTS, CloudEvent, Mode, emitterFor, type Message } from 'cloudevents';
import { provisionTenants, serviceUrl } from '@metering/testing';

const ingestion = `${serviceUrl('ingestion')}/v1/events`;

const usageEvent = () =>
  new CloudEvent({
    id: randomUUID(),
    source: 'urn:example:gateway',
    type: 'api.call',
    time: new Date().toISOString(),
    data: { route: '/v1/messages' },
  });

describe('a standard CloudEvents client (the cloudevents package)', () => {
  it('sends in structured mode', async () => {
    const {
      tenants: [{ apiKey }],
    } = await provisionTenants(1);
    const replies: { status: number; body: unknown }[] = [];
    const emit = emitterFor(
      async (message: Message) => {
        const res = await fetch(ingestion, {
          method: 'POST',
          headers: { ...(message.headers as Record<string, string>), authorization: `Bearer ${apiKey}` },
          body: message.body as string,
        });
        replies.push({ status: res.status, body: await res.json() });
      },
      { mode: Mode.STRUCTURED },
    );
    await emit(usageEvent());
    expect(replies).toEqual([{ status: 202, body: expect.objectContaining({ accepted: 1, rejected: [] }) }]);
  });

  it('sends in batch mode', async () => {
    const {
      tenants: [{ apiKey }],
    } = await provisionTenants(1);
    const res = await fetch(ingestion, {
      method: 'POST',
      headers: { 'content-type': CONSTANTS.MIME_CE_BATCH, authorization: `Bearer ${apiKey}` },
      body: JSON.stringify([usageEvent(), usageEvent(), usageEvent()]),
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ accepted: 3, rejected: [] });
  });
});
