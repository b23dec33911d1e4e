import {
  SERVICE_NAMES,
  apiCallEvent,
  eventually,
  postEvents,
  provisionTenants,
  serviceUrl,
  stackVar,
  tenantUsage,
} from '@metering/testing';

describe('walking skeleton', () => {
  it.each(SERVICE_NAMES)('%s serves /health, /ready, /metrics and /docs', async (name) => {
    expect((await fetch(serviceUrl(name, '/health'))).status).toBe(200);
    const ready = await fetch(serviceUrl(name, '/ready'));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
    const metrics = await (await fetch(serviceUrl(name, '/metrics'))).text();
    expect(metrics).toContain(`process_cpu_seconds_total{service="${name}"}`);
    expect((await fetch(serviceUrl(name, '/docs'))).status).toBe(200);
    const openapi = (await (await fetch(serviceUrl(name, '/docs/openapi.json'))).json()) as {
      info: { title: string };
    };
    expect(openapi.info.title).toBe(`${name} API`);
  });

  it('counts events posted to ingestion in ClickHouse, through Kafka and the aggregation sink', async () => {
    const {
      tenants: [{ tenantId: tenant, apiKey }],
    } = await provisionTenants(1);
    const events = Array.from({ length: 25 }, () => apiCallEvent());
    const batch = [...events, events[0], apiCallEvent({ time: 'not-a-time' })];
    const { status, body } = await postEvents(serviceUrl('ingestion'), batch, apiKey);
    expect(status).toBe(202);
    expect(body).toMatchObject({ accepted: 25, duplicates: 1, rejected: [{ index: 26 }] });

    // Re-sending the whole batch (a producer retry) must not change the count.
    await postEvents(serviceUrl('ingestion'), events, apiKey);

    const usage = await eventually(async () => {
      const u = await tenantUsage(tenant);
      return u.events >= 25 ? u : undefined;
    });
    expect(usage).toEqual(expect.objectContaining({ value: '25', events: 25 }));
  });

  it('answers bad input with an error naming the field', async () => {
    const res = await fetch(serviceUrl('aggregation', '/v1/usage?meter=api_calls&tenantId=a%20b'), {
      headers: { authorization: `Bearer ${stackVar('ADMIN_KEY')}` },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { code: 'validation_failed', details: [{ field: 'tenantId' }] },
    });
  });
});
