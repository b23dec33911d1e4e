import { randomUUID } from 'node:crypto';
import {
  api,
  eventually,
  postEvents,
  provisionTenants,
  serviceUrl,
  stackVar,
  uniqueName,
} from '@metering/testing';

const aggregation = serviceUrl('aggregation');

describe('meter catalog', () => {
  const admin = () => stackVar('ADMIN_KEY');
  const create = (body: unknown, key = admin()) => api(aggregation, 'POST', '/v1/meters', { key, body });

  it('creates a meter whose events ingestion accepts at once and aggregation counts', async () => {
    const key = uniqueName('sms').toLowerCase();
    const eventType = `${key}.sent`;
    const created = await create({ key, eventType, aggregation: 'SUM', valueProperty: 'segments' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ key, eventType, pooling: 'sum-of-tenants', allowNegative: false });

    const { accountId, ownerKey, tenants } = await provisionTenants(1);
    const event = (segments: number) => ({
      specversion: '1.0',
      id: randomUUID(),
      source: 'e2e://sms',
      type: eventType,
      time: new Date().toISOString(),
      data: { segments },
    });
    const sent = await postEvents(serviceUrl('ingestion'), [event(2), event(3)], tenants[0].apiKey);
    expect(sent.body).toMatchObject({ accepted: 2, rejected: [] });
    await eventually(
      async () => {
        const usage = await api(aggregation, 'GET', `/v1/usage?meter=${key}&accountId=${accountId}`, {
          key: ownerKey,
        });
        return usage.body.value === '5' ? true : undefined;
      },
      { timeoutMs: 30_000, what: `5 segments of ${key}` },
    );
  });

  it('names the fields of an inconsistent or invalid definition', async () => {
    const inconsistent = await create({
      key: uniqueName('m').toLowerCase(),
      eventType: 'x',
      aggregation: 'COUNT',
      valueProperty: 'v',
    });
    expect(inconsistent.status).toBe(400);
    expect(inconsistent.body.error.details).toEqual([
      { field: 'valueProperty', reasons: ['COUNT counts events and reads no value'] },
    ]);
    const invalid = await create({ key: 'Bad Key', eventType: 'x', aggregation: 'MEDIAN' });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
      'aggregation',
      'key',
    ]);
  });

  it('refuses a key already taken, built-in or created', async () => {
    expect((await create({ key: 'api_calls', eventType: 'x', aggregation: 'COUNT' })).status).toBe(409);
    const key = uniqueName('m').toLowerCase();
    expect((await create({ key, eventType: 'x', aggregation: 'COUNT' })).status).toBe(201);
    expect((await create({ key, eventType: 'y', aggregation: 'COUNT' })).body).toMatchObject({
      error: { code: 'meter_exists' },
    });
  });

  it('lets only platform admins create meters', async () => {
    const { ownerKey } = await provisionTenants(1);
    const res = await create(
      { key: uniqueName('m').toLowerCase(), eventType: 'x', aggregation: 'COUNT' },
      ownerKey,
    );
    expect(res.status).toBe(403);
  });
});
