import { PROTO_FILES } from '@metering/contracts';
import { DEFAULT_METERS, toMeter, type Meter } from '@metering/meters';
import { GrpcServer } from '@metering/service-kit';
import { MeterCatalogClient } from './meter-catalog-client';

const silent = { info() {}, error() {} } as never;
const asMessage = (m: Meter) => ({ ...m, bucketSeconds: m.bucketSeconds ?? 0 });

describe(MeterCatalogClient.name, () => {
  let meters: Meter[];
  let calls = 0;
  let server: GrpcServer;
  let client: MeterCatalogClient;

  beforeEach(async () => {
    meters = [...DEFAULT_METERS];
    calls = 0;
    server = new GrpcServer(
      { protoPath: PROTO_FILES.usage, service: 'metering.usage.v1.Usage', url: '127.0.0.1:0' },
      {
        ListMeters: () => {
          calls++;
          return Promise.resolve({ meters: meters.map(asMessage) });
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

  it('shares one fetch among concurrent callers', async () => {
    await Promise.all([client.refresh(), client.refresh(), client.check()]);
    expect(calls).toBe(1);
  });

  it('reports the catalog unavailable when aggregation cannot be reached', async () => {
    await server.stop(100);
    await expect(client.refresh()).rejects.toMatchObject({ code: 'meter_catalog_unavailable' });
  });
});
