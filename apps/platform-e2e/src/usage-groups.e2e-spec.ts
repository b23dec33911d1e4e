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
const HOUR = 3_600_000;

interface Figures {
  value: string;
  events: number;
  tenants: { tenantId: string; usage: string }[];
}
interface Grouped extends Figures {
  groupBy: string;
  groups: (Figures & { group: string | null })[];
}

describe('usage grouped by a property', () => {
  it("pools a meter's usage per value of one of its groupBy properties, exactly and once per event", async () => {
    // A token meter grouped by region and by a nested model name.
    const meterKey = uniqueName('tokens').toLowerCase();
    const eventType = `${meterKey}.used`;
    const created = await api(aggregation, 'POST', '/v1/meters', {
      key: stackVar('ADMIN_KEY'),
      body: {
        key: meterKey,
        eventType,
        aggregation: 'SUM',
        valueProperty: 'tokens',
        groupBy: ['region', 'model.name'],
      },
    });
    expect(created.status).toBe(201);
    const { accountId, ownerKey, tenants } = await provisionTenants(2);
    const [a, b] = tenants;

    // Over two hours, so whole past hours (which rollups answer without groups) are included.
    const start = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    let n = 0;
    const event = (tokens: number, data: Record<string, unknown>) => ({
      specversion: '1.0',
      id: randomUUID(),
      source: 'e2e://llm',
      type: eventType,
      time: new Date(start + 60_000 * (n++ % 100) + 1_000).toISOString(),
      data: { tokens, ...data },
    });
    const gpt = { model: { name: 'gpt' } };
    const aEvents = [
      event(100, { region: 'eu', ...gpt }),
      event(40, { region: 'us', ...gpt }),
      event(7, { region: 'eu', model: { name: 'small' } }),
    ];
    const bEvents = [event(25, { region: 'eu', ...gpt }), event(3, {})];
    expect((await postEvents(serviceUrl('ingestion'), aEvents, a.apiKey)).body.accepted).toBe(3);
    expect((await postEvents(serviceUrl('ingestion'), bEvents, b.apiKey)).body.accepted).toBe(2);
    // A re-sent event is a duplicate and changes no group.
    expect((await postEvents(serviceUrl('ingestion'), [aEvents[0]], a.apiKey)).body.duplicates).toBe(1);

    const query = (groupBy: string) =>
      `/v1/usage?${new URLSearchParams({
        meter: meterKey,
        accountId,
        from: new Date(start).toISOString(),
        to: new Date(Date.now() + 60_000).toISOString(),
        groupBy,
      }).toString()}`;
    const byRegion = await eventually(
      async () => {
        const res = await api<Grouped>(aggregation, 'GET', query('region'), { key: ownerKey });
        return res.body.value === '175' ? res.body : undefined;
      },
      { timeoutMs: 30_000, what: 'all 175 tokens stored' },
    );
    const usageOf = (f: Figures) => Object.fromEntries(f.tenants.map((t) => [t.tenantId, t.usage]));
    expect(byRegion.groupBy).toBe('region');
    expect(byRegion.groups.map((g) => [g.group, g.value, g.events, usageOf(g)])).toEqual([
      // Sorted by value; the event without a region is the null group.
      [null, '3', 1, { [b.tenantId]: '3' }],
      ['eu', '132', 3, { [a.tenantId]: '107', [b.tenantId]: '25' }],
      ['us', '40', 1, { [a.tenantId]: '40' }],
    ]);

    const byModel = await api<Grouped>(aggregation, 'GET', query('model.name'), { key: ownerKey });
    expect(byModel.body.groups.map((g) => [g.group, g.value])).toEqual([
      [null, '3'],
      ['gpt', '165'],
      ['small', '7'],
    ]);
    // The groups add up to the pooled figure.
    const sum = (f: Figures[]) => f.reduce((s, g) => s + BigInt(g.value), 0n);
    expect(sum(byRegion.groups)).toBe(175n);
    expect(sum(byModel.body.groups)).toBe(175n);

    // `tenant` is the breakdown every answer has; another name is refused, naming the field.
    const byTenant = await api<Grouped>(aggregation, 'GET', query('tenant'), { key: ownerKey });
    expect(byTenant.status).toBe(200);
    expect(byTenant.body.groups).toBeUndefined();
    expect(usageOf(byTenant.body)).toEqual({ [a.tenantId]: '147', [b.tenantId]: '28' });
    const unknown = await api<{ error: { code: string; details: unknown } }>(
      aggregation,
      'GET',
      query('colour'),
      {
        key: ownerKey,
      },
    );
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: 'unknown_group', details: { field: 'groupBy' } });
  });
});
