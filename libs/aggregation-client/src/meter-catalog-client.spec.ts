import { PROTO_FILES } from '@metering/contracts';
import { DEFAULT_METERS, toMeter, type Meter } from '@metering/meters';
import { GrpcServer } from '@metering/service-kit';
import { MeterCatalogClient } from './meter-catalog-client';

const silent = { info() {}, error() {} } as never;
const asMessage = (m: Meter) => ({ ...m, bucketSeconds: m.bucketSeconds ?? 0 });

describe(MeterCatalogClient.name, () => {
  let meters: Meter[];
  let calls = 0;
  let delayMs = 0;
  let server: GrpcServer;
  let client: MeterCatalogClient;

  beforeEach(async () => {
    meters = [...DEFAULT_METERS];
    calls = 0;
    delayMs = 0;
    server = new GrpcServer(
      { protoPath: PROTO_FILES.usage, service: 'metering.usage.v1.Usage', url: '127.0.0.1:0' },
      {
        ListMeters: async () => {
          calls++;
          const answer = { meters: meters.map(asMessage) };
          await new Promise((resolve) => setTimeout(resolve, delayMs));
          return answer;
        },
        GetPeriodUsage: () => Promise.resolve({}),
      },
      silent,
    );
    await server.start();
    client = new MeterCatalogClient({
      url: `127.0.0.1:${server.port}`,
      refreshMs: 60_000,
      minRefreshIntervalMs: 0,
    });
  });

  afterEach(async () => {
    client.close();
    await server.stop(100);
  });

  it('carries every meter field over gRPC unchanged', async () => {
    const catalog = await client.refresh();
    expect(catalog.meters).toEqual(DEFAULT_METERS);
  });

  it('reuses the catalog for known event types', async () => {
    await client.catalogFor(['api.call']);
    await client.catalogFor(['api.call', 'user.active']);
    expect(calls).toBe(1);
  });

  it('fetches again when an event names a type created since', async () => {
    await client.catalogFor(['api.call']);
    meters.push(toMeter({ key: 'sms', eventType: 'sms.sent', aggregation: 'COUNT' }));
    const catalog = await client.catalogFor(['sms.sent']);
    expect(catalog.knows('sms.sent')).toBe(true);
    expect(calls).toBe(2);
  });

  it('does not answer a new type from a fetch that began before the meter existed', async () => {
    await client.refresh();
    delayMs = 200;
    const older = client.refresh();
    await new Promise((resolve) => setTimeout(resolve, 50));
    meters.push(toMeter({ key: 'sms', eventType: 'sms.sent', aggregation: 'COUNT' }));
    const catalog = await client.catalogFor(['sms.sent']);
    expect((await older).knows('sms.sent')).toBe(false);
    expect(catalog.knows('sms.sent')).toBe(true);
    expect(calls).toBe(3);
  });

  it('waits out the minimum interval for a new type instead of refusing it', async () => {
    const spaced = new MeterCatalogClient({
      url: `127.0.0.1:${server.port}`,
      refreshMs: 60_000,
      minRefreshIntervalMs: 300,
    });
    try {
      await spaced.refresh();
      meters.push(toMeter({ key: 'sms', eventType: 'sms.sent', aggregation: 'COUNT' }));
      const asked = Date.now();
      const [first, second] = await Promise.all([
        spaced.catalogFor(['sms.sent']),
        spaced.catalogFor(['sms.sent']),
      ]);
      expect(first.knows('sms.sent') && second.knows('sms.sent')).toBe(true);
      expect(Date.now() - asked).toBeGreaterThanOrEqual(250);
      expect(calls).toBe(2);
    } finally {
      spaced.close();
    }
  });

  it('shares one fetch among concurrent callers', async () => {
    await Promise.all([client.refresh(), client.refresh(), client.check()]);
    expect(calls).toBe(1);
  });

  it('reports the catalog unavailable when aggregation cannot be reached', async () => {
    await server.stop(100);
    await expect(client.refresh()).rejects.toMatchObject({ code: 'meter_catalog_unavailable' });
  });
});
