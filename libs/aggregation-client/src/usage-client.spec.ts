import { PROTO_FILES } from '@metering/contracts';
import { UNIT } from '@metering/meters';
import { GrpcServer } from '@metering/service-kit';
import { UsageClient } from './usage-client';

const silent = { info() {}, error() {} } as never;

describe(UsageClient.name, () => {
  let server: GrpcServer;
  let client: UsageClient;
  let asked: unknown;

  beforeAll(async () => {
    server = new GrpcServer(
      { protoPath: PROTO_FILES.usage, service: 'metering.usage.v1.Usage', url: '127.0.0.1:0' },
      {
        ListMeters: () =>
          Promise.resolve({
            meters: [
              { key: 'api_calls', aggregation: 'COUNT', pooling: 'sum-of-tenants' },
              { key: 'mau', aggregation: 'UNIQUE_COUNT', pooling: 'distinct-across-tenants' },
            ],
          }),
        GetPeriodUsage: (request: unknown) => {
          asked = request;
          return Promise.resolve({
            meters: [
              {
                meterKey: 'voice_minutes',
                pooledQuantity: '10.000000001',
                aggregation: 'SUM',
                events: 3,
                tenants: [
                  { tenantId: 't1', quantity: '7.5', usage: '7.5', events: 2 },
                  { tenantId: 't2', quantity: '2.500000001', usage: '2.500000001', events: 1 },
                ],
              },
            ],
          });
        },
      },
      silent,
    );
    await server.start();
    client = new UsageClient({ url: `127.0.0.1:${server.port}` });
  });

  afterAll(async () => {
    client.close();
    await server.stop(100);
  });

  it('reads pooled usage and tenant parts as exact quantities', async () => {
    const usage = await client.periodUsage({
      accountId: 'acc',
      fromMs: 1_000,
      toMs: 2_000,
      meterKeys: ['voice_minutes'],
    });
    expect(asked).toMatchObject({
      accountId: 'acc',
      fromMs: 1_000,
      toMs: 2_000,
      meterKeys: ['voice_minutes'],
    });
    expect(usage).toEqual([
      {
        meterKey: 'voice_minutes',
        aggregation: 'SUM',
        pooled: 10n * UNIT + 1n,
        events: 3,
        tenants: [
          { tenantId: 't1', contribution: 7_500_000_000n, usage: 7_500_000_000n, events: 2 },
          { tenantId: 't2', contribution: 2_500_000_001n, usage: 2_500_000_001n, events: 1 },
        ],
      },
    ]);
  });

  it('lists the meter keys aggregation knows', async () => {
    expect(await client.meterKeys()).toEqual(new Set(['api_calls', 'mau']));
  });

  it('lists how each meter pools', async () => {
    expect(await client.meterKinds()).toEqual([
      { key: 'api_calls', aggregation: 'COUNT', pooling: 'sum-of-tenants' },
      { key: 'mau', aggregation: 'UNIQUE_COUNT', pooling: 'distinct-across-tenants' },
    ]);
  });

  it('reports an unreachable aggregation as unavailable, not as empty usage', async () => {
    const nowhere = new UsageClient({ url: '127.0.0.1:1', timeoutMs: 500 });
    await expect(nowhere.periodUsage({ accountId: 'acc', fromMs: 0, toMs: 1 })).rejects.toMatchObject({
      kind: 'unavailable',
      code: 'usage_unavailable',
    });
    nowhere.close();
  });
});
