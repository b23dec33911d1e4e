import { ClickHouse, sql } from '@metering/clickhouse';
import {
  apiCallEvent,
  eventually,
  expectBooksBalance,
  isAlive,
  openBooks,
  postEvents,
  provisionTenants,
  serviceLog,
  servicePid,
  serviceUrl,
  stackUp,
  stackVar,
  tenantUsage,
} from '@metering/testing';

describe('graceful shutdown', () => {
  it('SIGTERM during consumption loses nothing and writes nothing twice', async () => {
    const books = await openBooks();
    const account = await provisionTenants(1);
    const [{ tenantId: tenant, apiKey }] = account.tenants;
    let accepted = 0;
    const send = async (n: number) => {
      const events = Array.from({ length: n }, () => apiCallEvent());
      const answer = await postEvents(serviceUrl('ingestion'), events, apiKey);
      expect(answer.status).toBe(202);
      accepted += answer.body.accepted;
      books.accepted.record(tenant, events, answer);
    };

    await send(200);
    const pid = servicePid('aggregation');
    // Stop the sink while batches are arriving: it must finish and commit what it consumed.
    const sending = Promise.all([send(200), send(200), send(200)]);
    process.kill(pid, 'SIGTERM');
    await sending;
    await eventually(() => (isAlive(pid) ? undefined : true), {
      timeoutMs: 30_000,
      what: 'aggregation to exit',
    });
    expect(serviceLog('aggregation')).not.toMatch(/shutdown timed out/);

    stackUp();
    const ch = new ClickHouse({ url: stackVar('CLICKHOUSE_URL'), database: 'metering' });
    try {
      const row = await eventually(
        async () => {
          const [r] = await ch.query<{ rows: string; ids: string }>(
            sql`SELECT count() AS rows, uniqExact(event_id) AS ids FROM usage_events WHERE tenant_id = ${tenant}`,
          );
          return Number(r.ids) >= accepted ? r : undefined;
        },
        { timeoutMs: 60_000, what: `${accepted} events in ClickHouse` },
      );
      expect(Number(row.ids)).toBe(accepted);
      // Committed before exit: the restarted sink did not insert the last batch a second time.
      expect(Number(row.rows)).toBe(accepted);
    } finally {
      await ch.close();
    }
    expect(await tenantUsage(tenant)).toMatchObject({ value: String(accepted), events: accepted });
    await expectBooksBalance(account, books);
  });
});
