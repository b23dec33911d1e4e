import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { BillingCalendar, type BillingPeriod } from '@metering/billing-math';
import { REGISTRY_EVENTS_TOPIC } from '@metering/contracts';
import {
  api,
  apiCallEvent,
  eventually,
  expectBooksBalance,
  isAlive,
  kafkaBrokers,
  openBooks,
  ownPostgresCluster,
  postEvents,
  provisionTenants,
  serviceUrl,
  stackVar,
  startInstance,
  tcpProxy,
  topicEnds,
  uniqueName,
  untilUsageEvents,
  type Books,
  type OwnServer,
  type ProvisionedAccount,
  type ServiceInstance,
  type TcpProxy,
  type InvoiceBody,
} from '@metering/testing';

const HOUR = 3_600_000;
const admin = () => stackVar('ADMIN_KEY');
const iso = (ms: number) => new Date(ms).toISOString();

/** Anchor day of two days ago (at most 28), so the last ended period ended recently. */
const anchorDay = Math.min(new Date(Date.now() - 2 * 24 * HOUR).getUTCDate(), 28);
const calendar = new BillingCalendar({ anchorDay, timeZone: 'UTC' });
const last = calendar.previous(calendar.periodAt(Date.now()));

/** How long a request may take while Postgres is unreachable: an outage must not hang callers. */
const OUTAGE_ANSWER_MS = 10_000;

// ---------------------------------------------------------------------------------- Postgres

/** A database on the stack's Postgres server, directly or through `port` (a proxy in front of it). */
function postgresUrl(database: string, port?: number): string {
  const url = new URL(stackVar('POSTGRES_URL'));
  if (port !== undefined) url.port = String(port);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A proxy in front of the stack's Postgres: cutting it takes Postgres away from one instance only. */
function proxyToPostgres(): Promise<TcpProxy> {
  const url = new URL(stackVar('POSTGRES_URL'));
  return tcpProxy(url.hostname, Number(url.port || 5432));
}

/** A direct connection to a database (its URL never leads through a proxy), as a superuser. */
async function connect(databaseUrl: string): Promise<Client> {
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  return pg;
}

async function query<T>(databaseUrl: string, text: string, values: unknown[] = []): Promise<T[]> {
  const pg = await connect(databaseUrl);
  try {
    return (await pg.query(text, values)).rows as T[];
  } finally {
    await pg.end();
  }
}

// --------------------------------------------------------------------------------- answers

/** The request's answer, or a failure naming the wait when none comes within `ms`. */
async function answeredWithin<T>(ms: number, request: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([request, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A request to an instance whose Postgres is gone: answered promptly with 503 (the caller did
 * nothing wrong and may retry; no 4xx, and certainly no 2xx) and the platform's error body.
 */
async function expectOutageError(request: Promise<{ status: number; body: unknown }>): Promise<void> {
  const { status, body } = await answeredWithin(OUTAGE_ANSWER_MS, request);
  expect({ status, body }).toEqual({
    status: 503,
    body: { error: expect.objectContaining({ code: 'dependency_unavailable', message: expect.any(String) }) },
  });
}

async function untilReadiness(instance: ServiceInstance, status: 200 | 503): Promise<void> {
  await eventually(
    async () => ((await fetch(`${instance.url}/ready`)).status === status ? true : undefined),
    { timeoutMs: 30_000, what: `${instance.url}/ready to answer ${status}` },
  );
}

// --------------------------------------------------------------------------------- billing

/** 10.00 a month, api_calls beyond 4 at 1.00 each; a long grace period keeps recent drafts drafts. */
async function createPlan(billingUrl: string): Promise<string> {
  const id = uniqueName('plan').toLowerCase();
  const res = await api(billingUrl, 'POST', '/v1/plans', {
    key: admin(),
    body: {
      id,
      name: 'Postgres faults e2e',
      currency: 'USD',
      baseFee: '10.00',
      meters: [{ meterKey: 'api_calls', included: '4', overage: { type: 'PER_UNIT', unitPrice: '1.00' } }],
      tenantLimits: {},
      gracePeriodHours: 35 * 24,
    },
  });
  expect(res.status).toBe(201);
  return id;
}

async function subscribe(billingUrl: string, accountId: string, planId: string, startMs: number) {
  const res = await api(billingUrl, 'PUT', `/v1/accounts/${accountId}/subscription`, {
    key: admin(),
    body: { planId, planVersion: 1, startAt: iso(startMs), anchorDay },
  });
  expect(res.status).toBe(200);
}

/** `counts[i]` api calls of the account's tenant i at `atMs`, booked, then waited for in aggregation. */
async function sendCalls(
  account: ProvisionedAccount,
  counts: readonly number[],
  atMs: number,
  books?: Books,
): Promise<void> {
  await Promise.all(
    account.tenants.map(async (tenant, i) => {
      const events = Array.from({ length: counts[i] }, () => apiCallEvent({ time: iso(atMs) }));
      const answer = await postEvents(serviceUrl('ingestion'), events, tenant.apiKey);
      expect(answer.body.accepted).toBe(counts[i]);
      books?.accepted.record(tenant.tenantId, events, answer);
    }),
  );
  await Promise.all(account.tenants.map((t, i) => untilUsageEvents(t.tenantId, counts[i])));
}

async function invoicesOf(billingUrl: string, account: ProvisionedAccount): Promise<InvoiceBody[]> {
  const res = await api<{ invoices: InvoiceBody[]; nextCursor: string | null }>(
    billingUrl,
    'GET',
    `/v1/accounts/${account.accountId}/invoices?limit=500`,
    { key: admin() },
  );
  expect(res.status).toBe(200);
  expect(res.body.nextCursor).toBeNull();
  return res.body.invoices;
}

const runBilling = (billingUrl: string, accountId?: string) =>
  api(billingUrl, 'POST', '/v1/billing-runs', {
    key: admin(),
    body: { asOf: iso(Date.now()), ...(accountId ? { accountId } : {}) },
  });

interface StoredInvoice {
  id: string;
  account_id: string;
  period_start_ms: string;
  total: string;
  lines: number;
  line_rows: number;
  line_total: string;
  drafted_events: number;
}

/**
 * The invoices of a billing database as stored, each with what makes it whole: its lines as rows
 * (and their sum) and its `invoice.drafted` event, all written in the transaction that drafted it.
 */
function storedInvoices(databaseUrl: string): Promise<StoredInvoice[]> {
  return query<StoredInvoice>(
    databaseUrl,
    `SELECT i.id, i.account_id, i.period_start_ms::text, i.total_minor::text AS total,
       jsonb_array_length(i.lines) AS lines,
       (SELECT count(*)::int FROM invoice_lines l WHERE l.invoice_id = i.id AND l.tenant_id = '') AS line_rows,
       (SELECT coalesce(sum(l.amount_minor), 0)::text FROM invoice_lines l
         WHERE l.invoice_id = i.id AND l.tenant_id = '') AS line_total,
       (SELECT count(*)::int FROM es_events e
         WHERE e.stream_id = 'invoice:' || i.id AND e.type = 'invoice.drafted') AS drafted_events
     FROM invoices i ORDER BY i.account_id, i.period_start_ms`,
  );
}

/** Every stored invoice is whole: all its lines, adding up to its total, and its drafted event. */
function expectWhole(invoices: readonly StoredInvoice[]): void {
  const partial = invoices.filter(
    (i) => i.lines === 0 || i.line_rows !== i.lines || i.line_total !== i.total || i.drafted_events !== 1,
  );
  expect(partial).toEqual([]);
}

// -------------------------------------------------------------------------------- registry

/**
 * How many copies of each event keyed by `key` a topic holds from the given offsets on, read up
 * to where the topic ends when `readToEnd` is called.
 */
async function readKeyedEvents(topic: string, from: Record<number, number>, key: string) {
  const consumer = new Kafka({
    brokers: kafkaBrokers(),
    clientId: 'e2e-postgres-faults',
    logLevel: logLevel.NOTHING,
  }).consumer({ groupId: uniqueName('e2e-postgres-faults'), maxWaitTimeInMs: 200 });
  const copies = new Map<string, number>();
  const read: Record<number, number> = { ...from };
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        read[partition] = Math.max(read[partition] ?? 0, Number(message.offset) + 1);
        if (message.key?.toString() === key) {
          const { eventId } = JSON.parse(message.value?.toString() ?? '{}') as { eventId: string };
          copies.set(eventId, (copies.get(eventId) ?? 0) + 1);
        }
        return Promise.resolve();
      },
    });
    // Older messages cannot be the account's (it did not exist yet).
    for (const [partition, offset] of Object.entries(from)) {
      consumer.seek({ topic, partition: Number(partition), offset: String(offset) });
    }
  } catch (err) {
    await consumer.disconnect();
    throw err;
  }
  return {
    async readToEnd(): Promise<Map<string, number>> {
      const ends = (await topicEnds([topic]))[topic];
      await eventually(
        () =>
          Object.entries(ends).every(([partition, end]) => end <= (read[Number(partition)] ?? 0))
            ? true
            : undefined,
        { timeoutMs: 30_000, what: `${topic} read to its end` },
      );
      return copies;
    },
    close: () => consumer.disconnect(),
  };
}

// ----------------------------------------------------------------------------------- tests

/** A way to take Postgres away from one instance, and to give it back. */
interface PostgresFault {
  /**
   * A new database for an instance: the variables that give the instance it (through the fault),
   * and its URL for the test's own reads (never through the fault).
   */
  database(prefix: string): { env: Record<string, string>; directUrl: string };
  takeAway(): Promise<void>;
  giveBack(): Promise<void>;
}

/**
 * The query timeout of instances whose Postgres goes silent: the default (60 s) would hold their
 * callers past `OUTAGE_ANSWER_MS`.
 */
const SILENT_QUERY_TIMEOUT_MS = 3_000;

/**
 * Instances of billing and of the registry beside the stack's, each with a Postgres database of its
 * own (reached through a proxy the test cuts or stalls, on a cluster of the test's own that it
 * stops, or killed outright), sharing the stack's Kafka, aggregation and audit. The books are
 * checked as everywhere; their invoice check (`billedPeriods`) reads the stack's billing, so these
 * tests check their own instances' invoices.
 */
describe('Postgres faults', () => {
  const running: ServiceInstance[] = [];
  const proxies: TcpProxy[] = [];
  const clusters: OwnServer[] = [];
  const databases: string[] = [];

  afterAll(async () => {
    await Promise.all(running.map((i) => i.stop()));
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(clusters.map((c) => c.remove()));
    for (const database of databases) {
      await query(postgresUrl('postgres'), `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    }
  });

  /** A database name of this file's on the stack's Postgres, dropped at its end. */
  const ownDatabase = (prefix: string) => {
    const name = uniqueName(prefix);
    databases.push(name);
    return name;
  };

  /** The stack's Postgres behind a proxy of the test's own, which `takeAway` cuts or stalls. */
  const proxied = async (how: 'cut' | 'stall', env: Record<string, string> = {}): Promise<PostgresFault> => {
    const proxy = await proxyToPostgres();
    proxies.push(proxy);
    return {
      database: (prefix) => {
        const name = ownDatabase(prefix);
        return { env: { DATABASE_URL: postgresUrl(name, proxy.port), ...env }, directUrl: postgresUrl(name) };
      },
      takeAway: () => Promise.resolve(proxy[how]()),
      giveBack: () => Promise.resolve(proxy.restore()),
    };
  };

  /** A cluster of the test's own: stopping the stack's Postgres would take it from every service. */
  const stopped = async (): Promise<PostgresFault> => {
    const cluster = await ownPostgresCluster();
    clusters.push(cluster);
    return {
      database: (prefix) => {
        const url = `${cluster.url}/${uniqueName(prefix)}`;
        return { env: { DATABASE_URL: url }, directUrl: url };
      },
      takeAway: () => cluster.crash(),
      giveBack: () => cluster.start(),
    };
  };

  describe.each([
    ['cut off (a proxy drops its connections and refuses new ones)', () => proxied('cut')],
    [
      `silent (a proxy holds connections open and forwards nothing; query timeout ${SILENT_QUERY_TIMEOUT_MS} ms)`,
      () => proxied('stall', { DATABASE_QUERY_TIMEOUT_MS: String(SILENT_QUERY_TIMEOUT_MS) }),
    ],
    ['stopped as in a crash (pg_ctl stop -m immediate) and started again', stopped],
  ])('Postgres %s', (_fault, createFault: () => Promise<PostgresFault>) => {
    it('refuses a billing run while billing cannot reach Postgres, writes nothing, and bills the period once when it returns', async () => {
      const books = await openBooks();
      const fault = await createFault();
      const database = fault.database('billing_pgdown');
      const [billing, account] = await Promise.all([
        startInstance('billing', { ...database.env, BILLING_RUN_INTERVAL_MS: '0' }),
        provisionTenants(2),
      ]);
      running.push(billing);
      const planId = await createPlan(billing.url);
      await subscribe(billing.url, account.accountId, planId, last.startMs);
      await sendCalls(account, [6, 2], last.endMs - HOUR, books);

      await fault.takeAway();
      await untilReadiness(billing, 503);
      await expectOutageError(runBilling(billing.url, account.accountId));
      // The scheduler's form (every account) and a read fail the same way.
      await expectOutageError(runBilling(billing.url));
      await expectOutageError(
        api(billing.url, 'GET', `/v1/accounts/${account.accountId}/invoices`, { key: admin() }),
      );
      expect(isAlive(billing.pid)).toBe(true);

      await fault.giveBack();
      await untilReadiness(billing, 200);
      // Nothing of an invoice was written while Postgres was away: no row, no line, no event.
      expect(await storedInvoices(database.directUrl)).toEqual([]);
      expect(await query(database.directUrl, `SELECT 1 FROM es_events WHERE type LIKE 'invoice.%'`)).toEqual(
        [],
      );
      expect(await invoicesOf(billing.url, account)).toEqual([]);
      const run = await runBilling(billing.url, account.accountId);
      expect(run.status).toBe(200);
      expect(run.body.accounts).toEqual([
        {
          accountId: account.accountId,
          invoices: [expect.objectContaining({ outcome: 'drafted', status: 'draft' })],
        },
      ]);
      const invoiceId = run.body.accounts[0].invoices[0].invoiceId as string;
      const again = await runBilling(billing.url, account.accountId);
      expect(again.body.accounts[0].invoices).toEqual([
        expect.objectContaining({ invoiceId, outcome: 'unchanged' }),
      ]);

      const [invoice, ...others] = await invoicesOf(billing.url, account);
      expect(others).toEqual([]);
      expect(invoice).toMatchObject({
        id: invoiceId,
        status: 'draft',
        periodStart: iso(last.startMs),
        total: { minor: 1400 },
      });
      const [a, b] = account.tenants;
      // 8 pooled, 4 included, 4 over at 1.00, split 6 : 2.
      expect(invoice.lines).toEqual([
        expect.objectContaining({ kind: 'base_fee', amount: expect.objectContaining({ minor: 1000 }) }),
        expect.objectContaining({
          kind: 'usage',
          meterKey: 'api_calls',
          pooled: '8',
          amount: expect.objectContaining({ minor: 400 }),
          attribution: expect.arrayContaining([
            expect.objectContaining({
              tenantId: a.tenantId,
              quantity: '6',
              amount: expect.objectContaining({ minor: 300 }),
            }),
            expect.objectContaining({
              tenantId: b.tenantId,
              quantity: '2',
              amount: expect.objectContaining({ minor: 100 }),
            }),
          ]),
        }),
      ]);
      const stored = await storedInvoices(database.directUrl);
      expect(stored.map((i) => i.id)).toEqual([invoiceId]);
      expectWhole(stored);
      // Usage stored and counted once; billing's events (published once Postgres was back) audited once.
      await expectBooksBalance(account, books);
    });

    it('fails registry writes while the registry cannot reach Postgres, then commits them and publishes each committed change once', async () => {
      const books = await openBooks();
      const fault = await createFault();
      const database = fault.database('registry_pgdown');
      const registry = await startInstance('tenant-registry', {
        ...database.env,
        REGISTRY_BOOTSTRAP_ADMIN_KEY: admin(),
      });
      running.push(registry);
      const call = (method: string, path: string, body?: unknown) =>
        api(registry.url, method, path, { key: admin(), body });

      const created = await call('POST', '/v1/accounts', {
        name: uniqueName('account'),
        currency: 'USD',
        timezone: 'UTC',
        billingAnchorDay: 1,
      });
      expect(created.status).toBe(201);
      const accountId = created.body.id as string;
      const topic = REGISTRY_EVENTS_TOPIC.name;
      const published = await readKeyedEvents(topic, books.domainTopicsFrom[topic], accountId);
      try {
        const bulk = await call('POST', `/v1/accounts/${accountId}/tenants/bulk`, {
          tenants: [{ name: 'tenant-0' }, { name: 'tenant-1' }],
        });
        expect(bulk.status).toBe(201);
        const tenantIds = (bulk.body.tenants as { id: string }[]).map((t) => t.id);
        const committedEvents = () =>
          query<{ event_id: string; type: string }>(
            database.directUrl,
            'SELECT event_id::text, type FROM es_events WHERE account_id = $1 ORDER BY position',
            [accountId],
          );
        const unpublished = async () =>
          Number(
            (
              await query<{ n: string }>(
                database.directUrl,
                'SELECT count(*)::text AS n FROM es_outbox WHERE published_at IS NULL',
              )
            )[0].n,
          );
        // Everything so far has left the outbox: the fault below catches no relay mid-batch.
        await eventually(async () => ((await unpublished()) === 0 ? true : undefined), {
          what: 'the outbox relayed',
        });
        const before = await committedEvents();

        await fault.takeAway();
        await untilReadiness(registry, 503);
        await expectOutageError(call('POST', `/v1/accounts/${accountId}/tenants`, { name: 'tenant-2' }));
        await expectOutageError(call('POST', `/v1/tenants/${tenantIds[0]}/suspend`, { reason: 'overdue' }));
        await expectOutageError(call('PATCH', `/v1/accounts/${accountId}`, { name: 'renamed' }));
        expect(isAlive(registry.pid)).toBe(true);

        await fault.giveBack();
        await untilReadiness(registry, 200);
        // None of them committed anything.
        expect(await committedEvents()).toEqual(before);
        const third = await call('POST', `/v1/accounts/${accountId}/tenants`, { name: 'tenant-2' });
        expect(third.status).toBe(201);
        tenantIds.push(third.body.id as string);
        const suspended = await call('POST', `/v1/tenants/${tenantIds[0]}/suspend`, { reason: 'overdue' });
        expect(suspended.status).toBe(201);
        expect(suspended.body).toMatchObject({ id: tenantIds[0], status: 'suspended' });
        const tenants: ProvisionedAccount['tenants'] = [];
        for (const tenantId of tenantIds) {
          const key = await call('POST', `/v1/tenants/${tenantId}/api-keys`, { scopes: ['ingest'] });
          expect(key.status).toBe(201);
          tenants.push({ tenantId, apiKey: key.body.secret as string });
        }

        // The outbox catches up: every committed change on the topic, once, and nothing else.
        await eventually(async () => ((await unpublished()) === 0 ? true : undefined), {
          timeoutMs: 30_000,
          what: 'the outbox relayed after Postgres returned',
        });
        const committed = await committedEvents();
        expect(committed.map((e) => e.type)).toEqual(
          expect.arrayContaining(['tenant.created', 'tenant.suspended', 'api_key.issued']),
        );
        const copies = await published.readToEnd();
        expect(Object.fromEntries(copies)).toEqual(Object.fromEntries(committed.map((e) => [e.event_id, 1])));
        // And the audit log holds each of them once, its chain intact. The account's keys live in
        // this registry only: the stack's services are read with the platform-admin key.
        await expectBooksBalance({ accountId, ownerKey: admin(), tenants }, books);
      } finally {
        await published.close();
      }
    });
  });

  it('leaves no partial invoice when billing is SIGKILLed mid-run, and a re-run bills every period once', async () => {
    /** Accounts and ended periods each: enough invoices that the run takes a few seconds. */
    const ACCOUNTS = 8;
    const PERIODS = 6;
    const periods: BillingPeriod[] = [last];
    while (periods.length < PERIODS) periods.unshift(calendar.previous(periods[0]));
    const database = postgresUrl(ownDatabase('billing_killed'));
    const env = {
      DATABASE_URL: database,
      BILLING_RUN_INTERVAL_MS: '0',
      // One account at a time, so that the run is still going when it is killed.
      BILLING_RUN_CONCURRENCY: '1',
    };
    // The first two accounts have usage, and books opened before they exist.
    const booked = await Promise.all([openBooks(), openBooks()]);
    const [doomed, accounts] = await Promise.all([
      startInstance('billing', env),
      Promise.all(Array.from({ length: ACCOUNTS }, () => provisionTenants(1))),
    ]);
    running.push(doomed);
    const planId = await createPlan(doomed.url);
    await Promise.all(
      accounts.map((account) => subscribe(doomed.url, account.accountId, planId, periods[0].startMs)),
    );
    // 5 and 7 calls in the last period: 1 and 3 over the 4 included.
    const calls = [5, 7];
    await Promise.all(booked.map((books, i) => sendCalls(accounts[i], [calls[i]], last.endMs - HOUR, books)));
    const expectedInvoices = ACCOUNTS * PERIODS;

    const pg = await connect(database);
    try {
      const invoiceCount = async () =>
        Number((await pg.query<{ n: string }>('SELECT count(*)::text AS n FROM invoices')).rows[0].n);
      const run = runBilling(doomed.url).then(
        (res) => ({ answered: res.status }),
        (err: Error) => ({ failed: err.message }),
      );
      // Killed once a third of the invoices are in: mid-run, whatever transaction is in flight.
      await eventually(async () => ((await invoiceCount()) >= expectedInvoices / 3 ? true : undefined), {
        timeoutMs: 30_000,
        intervalMs: 20,
        what: 'the billing run a third through',
      });
      process.kill(doomed.pid, 'SIGKILL');
      expect(await doomed.exited).toBe('SIGKILL');
      expect(await run).toEqual({ failed: expect.any(String) });
      const afterKill = await storedInvoices(database);
      expect(afterKill.length).toBeGreaterThan(0);
      expect(afterKill.length).toBeLessThan(expectedInvoices);
      expectWhole(afterKill);
    } finally {
      await pg.end();
    }

    const restarted = await startInstance('billing', env);
    running.push(restarted);
    const rerun = await runBilling(restarted.url);
    expect(rerun.status).toBe(200);
    expect(rerun.body.failed).toEqual([]);
    expect(rerun.body.accounts).toHaveLength(ACCOUNTS);

    const stored = await storedInvoices(database);
    expectWhole(stored);
    expect(stored).toHaveLength(expectedInvoices);
    const starts = periods.map((p) => iso(p.startMs));
    for (const [i, account] of accounts.entries()) {
      const invoices = await invoicesOf(restarted.url, account);
      // One invoice per period, each the base fee; the last one's usage beyond the included 4.
      expect(invoices.map((inv) => inv.periodStart).sort()).toEqual(starts);
      expect(Object.fromEntries(invoices.map((inv) => [inv.periodStart, inv.total.minor]))).toEqual(
        Object.fromEntries(
          starts.map((start) => [
            start,
            start === iso(last.startMs) ? 1000 + Math.max(0, (calls[i] ?? 0) - 4) * 100 : 1000,
          ]),
        ),
      );
    }
    // A further run changes nothing.
    const third = await runBilling(restarted.url);
    expect(
      (third.body.accounts as { invoices: { outcome: string }[] }[])
        .flatMap((a) => a.invoices)
        .filter((inv) => inv.outcome !== 'unchanged'),
    ).toEqual([]);
    expect(await storedInvoices(database)).toHaveLength(expectedInvoices);
    await Promise.all(booked.map((books, i) => expectBooksBalance(accounts[i], books)));
  });
});
