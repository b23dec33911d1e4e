import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { USAGE_EVENTS_TOPIC } from '@metering/contracts';
import {
  api,
  apiCallEvent,
  consumerGroupLag,
  eventually,
  expectBooksBalance,
  kafkaBrokers,
  openBooks,
  ownAggregation,
  ownClickHouseServer,
  postEvents,
  provisionTenants,
  serviceUrl,
  stackVar,
  tcpProxy,
  topicEnds,
  type Books,
  type OwnServer,
  type ProvisionedAccount,
  type ServiceInstance,
} from '@metering/testing';

const ingestion = serviceUrl('ingestion');
const HOUR = 3_600_000;
const USAGE_TOPIC = USAGE_EVENTS_TOPIC.name;

/**
 * Runs a statement on a ClickHouse server (the stack's unless named; never through a proxy) and
 * returns its text.
 */
async function clickhouse(
  query: string,
  database: string,
  server = stackVar('CLICKHOUSE_URL'),
): Promise<string> {
  const res = await fetch(`${server}/?database=${database}`, {
    method: 'POST',
    body: query,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse: ${text}`);
  return text.trim();
}

/** The instance's pooled api_calls of the account over the last three hours: events per tenant. */
async function apiCalls(url: string, account: ProvisionedAccount): Promise<Record<string, number>> {
  const now = Date.now();
  const query = new URLSearchParams({
    meter: 'api_calls',
    accountId: account.accountId,
    from: new Date(now - 3 * HOUR).toISOString(),
    to: new Date(now).toISOString(),
  });
  const res = await api<{ tenants: { tenantId: string; events: number; usage: string }[] }>(
    url,
    'GET',
    `/v1/usage?${query.toString()}`,
    { key: account.ownerKey },
  );
  if (res.status !== 200) throw new Error(`usage answered ${res.status}`);
  return Object.fromEntries(res.body.tenants.map((t) => [t.tenantId, Number(t.usage)]));
}

/**
 * Sends `count` api calls for a tenant, an hour and a half ago (a whole past hour is rolled up),
 * and books them.
 */
async function sendCalls(
  books: Books,
  tenant: { tenantId: string; apiKey: string },
  count: number,
): Promise<void> {
  const time = new Date(Date.now() - 1.5 * HOUR).toISOString();
  const events = Array.from({ length: count }, () => apiCallEvent({ time }));
  const answer = await postEvents(ingestion, events, tenant.apiKey);
  expect(answer.body.accepted).toBe(count);
  books.accepted.record(tenant.tenantId, events, answer);
}

/** Sends (and books) api calls for a tenant as `sendCalls` does, 10 every 100 ms, until stopped. */
function streamCalls(books: Books, tenant: { tenantId: string; apiKey: string }) {
  let sent = 0;
  let stopping = false;
  const streaming = (async () => {
    while (!stopping) {
      await sendCalls(books, tenant, 10);
      sent += 10;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  // Its failure is reported by `stop`.
  streaming.catch(() => undefined);
  return {
    sent: () => sent,
    stop: () => {
      stopping = true;
      return streaming;
    },
  };
}

async function staleHours(postgresDb: string, accountId: string): Promise<number> {
  const pg = new Client({ connectionString: `${stackVar('POSTGRES_URL')}/${postgresDb}` });
  await pg.connect();
  try {
    const { rows } = await pg.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM rollup_stale_hours WHERE account_id = $1',
      [accountId],
    );
    return Number(rows[0]?.n);
  } finally {
    await pg.end();
  }
}

describe('aggregation under faults', () => {
  const running: ServiceInstance[] = [];
  const databases: string[] = [];
  const servers: OwnServer[] = [];

  afterAll(async () => {
    await Promise.all(running.map((i) => i.stop()));
    for (const db of databases) await clickhouse(`DROP DATABASE IF EXISTS ${db}`, 'default');
    await Promise.all(servers.map((s) => s.remove()));
  });

  it('counts exactly after the sink is killed between its ClickHouse insert and the offset commit', async () => {
    const books = await openBooks();
    const account = await provisionTenants(2);
    const [crashing, quiet] = account.tenants;
    const agg = ownAggregation();
    databases.push(agg.names.clickhouse);
    const doomed = await agg.start({ FAULT_CRASH_AFTER_INSERT_TENANT: crashing.tenantId });
    running.push(doomed);

    await sendCalls(books, crashing, 50);
    await sendCalls(books, quiet, 30);
    expect(await doomed.exited).toBe('SIGKILL');
    // The batch reached ClickHouse before the process died: its redelivery will insert it again.
    const stored = await clickhouse(
      `SELECT count() FROM meter_values_by_time WHERE tenant_id = '${crashing.tenantId}'`,
      agg.names.clickhouse,
    );
    expect(Number(stored)).toBeGreaterThanOrEqual(50);

    const restarted = await agg.start();
    running.push(restarted);
    const expected = { [crashing.tenantId]: 50, [quiet.tenantId]: 30 };
    await eventually(
      async () => {
        const usage = await apiCalls(restarted.url, account);
        return usage[crashing.tenantId] === 50 && usage[quiet.tenantId] === 30 ? usage : undefined;
      },
      { timeoutMs: 60_000, what: 'the redelivered batch counted once' },
    );
    // Once the hour is rolled up from the raw rows, still once.
    await eventually(
      async () => ((await staleHours(agg.names.postgres, account.accountId)) === 0 ? true : undefined),
      { timeoutMs: 30_000, what: 'rollups rebuilt' },
    );
    expect(await apiCalls(restarted.url, account)).toEqual(expected);
    // Reconciliation shows the redelivery: more consumed than stored, each event stored once.
    const recon = await api<{
      hours: { consumed: number; distinctEvents: number; redelivered: number; rollup: string }[];
    }>(restarted.url, 'GET', `/v1/reconciliation?accountId=${account.accountId}`, { key: account.ownerKey });
    expect(recon.status).toBe(200);
    const [hour] = recon.body.hours;
    expect(recon.body.hours).toHaveLength(1);
    expect(hour).toMatchObject({ distinctEvents: 80, rollup: 'current' });
    expect(hour.consumed).toBeGreaterThan(80);
    expect(hour.redelivered).toBe(hour.consumed - 80);
    await expectBooksBalance(account, books, {
      aggregationUrl: restarted.url,
      clickhouseDatabase: agg.names.clickhouse,
    });
  });

  it('counts an event delivered a thousand times once', async () => {
    const books = await openBooks();
    const account = await provisionTenants(1);
    const [tenant] = account.tenants;
    const kafka = new Kafka({
      brokers: kafkaBrokers(),
      clientId: 'e2e-redelivery',
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer();
    await producer.connect();
    try {
      const timeMs = Date.now() - 1.5 * HOUR;
      const id = randomUUID();
      const value = JSON.stringify({
        tenantId: tenant.tenantId,
        records: [
          {
            id,
            source: 'e2e://redelivery',
            type: 'api.call',
            time: new Date(timeMs).toISOString(),
            data: {},
            tenantId: tenant.tenantId,
            accountId: account.accountId,
            timeMs,
            receivedAtMs: Date.now(),
          },
        ],
      });
      for (let sent = 0; sent < 1_000; sent += 100) {
        await producer.send({
          topic: 'usage.events.v1',
          acks: -1,
          messages: Array.from({ length: 100 }, () => ({ key: tenant.tenantId, value })),
        });
      }
      // Acknowledged by the event log (acks=all) rather than by ingestion.
      books.accepted.add({ tenantId: tenant.tenantId, id, type: 'api.call', timeMs });
    } finally {
      await producer.disconnect();
    }
    const aggregation = serviceUrl('aggregation');
    await eventually(
      async () => ((await apiCalls(aggregation, account))[tenant.tenantId] === 1 ? true : undefined),
      {
        timeoutMs: 30_000,
        what: 'the event counted',
      },
    );
    await eventually(
      async () => ((await staleHours('metering_aggregation', account.accountId)) === 0 ? true : undefined),
      { timeoutMs: 30_000, what: 'rollups rebuilt' },
    );
    expect(await apiCalls(aggregation, account)).toEqual({ [tenant.tenantId]: 1 });
    await expectBooksBalance(account, books);
  });

  it('loses nothing while ClickHouse is unreachable and catches up when it returns', async () => {
    const books = await openBooks();
    const account = await provisionTenants(1);
    const [tenant] = account.tenants;
    const target = new URL(stackVar('CLICKHOUSE_URL'));
    const proxy = await tcpProxy(target.hostname, Number(target.port || 8123));
    try {
      const agg = ownAggregation();
      databases.push(agg.names.clickhouse);
      const instance = await agg.start({ CLICKHOUSE_URL: `http://127.0.0.1:${proxy.port}` });
      running.push(instance);

      proxy.cut();
      await sendCalls(books, tenant, 40);
      await eventually(
        async () => ((await fetch(`${instance.url}/ready`)).status === 503 ? true : undefined),
        {
          what: 'readiness reporting ClickHouse down',
        },
      );
      // Ingestion acknowledged the events; the sink cannot store them yet and must not skip them.
      const stored = () =>
        clickhouse(
          `SELECT count() FROM meter_values_by_time WHERE tenant_id = '${tenant.tenantId}'`,
          agg.names.clickhouse,
        );
      expect(await stored()).toBe('0');

      proxy.restore();
      await eventually(
        async () => ((await apiCalls(instance.url, account))[tenant.tenantId] === 40 ? true : undefined),
        { timeoutMs: 90_000, what: 'the events stored after ClickHouse returned' },
      );
      await expectBooksBalance(account, books, {
        aggregationUrl: instance.url,
        clickhouseDatabase: agg.names.clickhouse,
      });
    } finally {
      await proxy.close();
    }
  });

  it('loses nothing when its ClickHouse server is killed mid-consumption, and counts every event once after it restarts', async () => {
    const books = await openBooks();
    const account = await provisionTenants(1);
    const [tenant] = account.tenants;
    // A server of the test's own: killing the stack's would take ClickHouse from every test.
    const server = await ownClickHouseServer();
    servers.push(server);
    const agg = ownAggregation();
    await agg.skipEarlierEvents();
    const instance = await agg.start({ CLICKHOUSE_URL: server.url });
    running.push(instance);
    const readiness = (status: number) =>
      eventually(async () => ((await fetch(`${instance.url}/ready`)).status === status ? true : undefined), {
        timeoutMs: 30_000,
        what: `readiness answering ${status}`,
      });
    const stored = async () =>
      Number(
        await clickhouse(
          `SELECT count() FROM meter_values_by_time WHERE tenant_id = '${tenant.tenantId}'`,
          agg.names.clickhouse,
          server.url,
        ),
      );

    const stream = streamCalls(books, tenant);
    try {
      // Killed while the sink consumes the stream: some of it stored, more on its way.
      await eventually(async () => ((await stored()) >= 50 ? true : undefined), {
        what: 'the sink storing the stream',
      });
      await server.crash();
      await readiness(503);
      // The group's offsets stay at its last write while acknowledged events pile up behind them.
      const down = await consumerGroupLag(agg.names.group, USAGE_TOPIC);
      const sentWhileDown = stream.sent();
      await eventually(() => (stream.sent() >= sentWhileDown + 200 ? true : undefined), {
        what: '200 more events acknowledged',
      });
      const later = await consumerGroupLag(agg.names.group, USAGE_TOPIC);
      expect(later.partitions.map((p) => p.committed)).toEqual(down.partitions.map((p) => p.committed));
      expect(later.total).toBeGreaterThan(down.total);

      await server.start();
      await readiness(200);
    } finally {
      await stream.stop();
    }
    const ends = (await topicEnds([USAGE_TOPIC]))[USAGE_TOPIC];
    const sent = books.accepted.size;
    await eventually(
      async () => ((await apiCalls(instance.url, account))[tenant.tenantId] === sent ? true : undefined),
      { timeoutMs: 90_000, what: `all ${sent} events counted after ClickHouse returned` },
    );
    await eventually(
      async () =>
        (await consumerGroupLag(agg.names.group, USAGE_TOPIC, ends)).total === 0 ? true : undefined,
      { timeoutMs: 30_000, what: 'the group caught up' },
    );
    await expectBooksBalance(account, books, {
      aggregationUrl: instance.url,
      clickhouseUrl: server.url,
      clickhouseDatabase: agg.names.clickhouse,
    });
  });
});
