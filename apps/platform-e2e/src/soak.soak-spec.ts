import { BillingCalendar } from '@metering/billing-math';
import {
  api,
  apiCallEvent,
  consumerGroupLag,
  eventually,
  expectBooksBalance,
  kafkaControl,
  mockBrokerIds,
  openBooks,
  ownAggregation,
  provisionTenants,
  rssMb,
  serviceUrl,
  stackPids,
  stackVar,
  tcpProxy,
  topicEnds,
  uniqueName,
  untilUsageEvents,
  type Books,
  type BooksReport,
  type IngestBody,
  type ServiceInstance,
  type TcpProxy,
} from '@metering/testing';

/**
 * The soak: producers post usage at a steady rate for a few tenants of one account while faults
 * come round in turn (an aggregation instance SIGKILLed, a Kafka broker down, ClickHouse cut off
 * from that instance); then the books balance, the instance's consumer group has caught up, and
 * no process grew past the memory bound. `SOAK_MINUTES` (default 10) sets the length,
 * `SOAK_EVENTS_PER_SECOND` (60) the rate, `SOAK_FAULT_EVERY_S` (30) the pace of faults.
 */

function setting(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

const SECOND = 1_000;
const HOUR = 3_600_000;
const RUN_MS = setting('SOAK_MINUTES', 10) * 60 * SECOND;
const EVENTS_PER_SECOND = setting('SOAK_EVENTS_PER_SECOND', 60);
const FAULT_EVERY_MS = setting('SOAK_FAULT_EVERY_S', 30) * SECOND;
/** Load without faults first: memory is measured against the end of it. */
const WARM_UP_MS = Math.min(60 * SECOND, Math.max(15 * SECOND, RUN_MS / 5));
/** How long a broker stays down and ClickHouse stays cut off. */
const OUTAGE_MS = 5 * SECOND;
/** At the end, each process's RSS may be at most this many times its RSS after the warm-up. */
const RSS_GROWTH_BOUND = 2;
/**
 * Reported, not bounded: ClickHouse fills its caches up to their own configured sizes, and the
 * local broker keeps its log in memory up to its cap.
 */
const UNBOUNDED = new Map([
  ['clickhouse', 'caches fill to their configured sizes: not bounded'],
  ['kafka-mock', 'keeps the log in memory up to its cap: not bounded'],
]);
const TENANTS = 3;
const BATCHES_PER_SECOND = 2;
/** Every tenth batch is stamped in the last billing period, which the soak bills at the end. */
const LATE_EVERY = 10;
const USAGE_TOPIC = 'usage.events.v1';
const SINK = 'aggregation (soak instance)';

const ingestion = serviceUrl('ingestion');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Anchor day of two days ago (at most 28), so the last period ended recently. */
const anchorDay = Math.min(new Date(Date.now() - 48 * HOUR).getUTCDate(), 28);
const lastPeriod = (() => {
  const calendar = new BillingCalendar({ anchorDay, timeZone: 'UTC' });
  return calendar.previous(calendar.periodAt(Date.now()));
})();

interface Tenant {
  tenantId: string;
  apiKey: string;
}

interface Traffic {
  sent: number;
  accepted: number;
  rejected: number;
  /** Answers other than 202 (0: no answer), each followed by a retry of the same batch. */
  refusals: Record<number, number>;
}

/** One `POST /v1/events`; status 0 when no answer came (connection refused, timed out). */
async function ingest(
  apiKey: string,
  events: unknown[],
): Promise<{ status: number; body?: IngestBody; retryAfterMs: number }> {
  try {
    const res = await fetch(`${ingestion}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents-batch+json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify(events),
      signal: AbortSignal.timeout(60 * SECOND),
    });
    const retryAfterMs = Number(res.headers.get('retry-after') ?? 1) * SECOND;
    if (res.status !== 202) {
      await res.text();
      return { status: res.status, retryAfterMs };
    }
    return { status: 202, body: (await res.json()) as IngestBody, retryAfterMs };
  } catch {
    return { status: 0, retryAfterMs: SECOND };
  }
}

/** Posts a batch until ingestion acknowledges it, with the same ids each time, as a producer retries. */
async function deliver(
  books: Books,
  tenant: Tenant,
  events: Record<string, unknown>[],
  traffic: Traffic,
): Promise<void> {
  const deadline = Date.now() + 5 * 60 * SECOND;
  for (;;) {
    const answer = await ingest(tenant.apiKey, events);
    if (answer.status === 202 && answer.body) {
      traffic.accepted += books.accepted.record(tenant.tenantId, events, { status: 202, body: answer.body });
      traffic.rejected += answer.body.rejected.length;
      return;
    }
    traffic.refusals[answer.status] = (traffic.refusals[answer.status] ?? 0) + 1;
    if (Date.now() > deadline) throw new Error(`a batch of ${tenant.tenantId} not acknowledged in 5 minutes`);
    await sleep(answer.retryAfterMs);
  }
}

/** One tenant's producer: a batch every half second until `stopped`, never bursting to catch up. */
async function produce(
  books: Books,
  tenant: Tenant,
  traffic: Traffic,
  stopped: () => boolean,
): Promise<void> {
  const size = Math.max(1, Math.round(EVENTS_PER_SECOND / TENANTS / BATCHES_PER_SECOND));
  const lateTime = new Date(lastPeriod.endMs - HOUR / 2).toISOString();
  let due = Date.now();
  for (let n = 1; !stopped(); n++) {
    const events = Array.from({ length: size }, () =>
      apiCallEvent(
        n % LATE_EVERY === 0 ? { source: 'e2e://soak', time: lateTime } : { source: 'e2e://soak' },
      ),
    );
    traffic.sent += events.length;
    await deliver(books, tenant, events, traffic);
    due += SECOND / BATCHES_PER_SECOND;
    if (due > Date.now()) await sleep(due - Date.now());
    else due = Date.now();
  }
}

type Memory = Record<string, { pid: number; mb: number }>;

describe('soak', () => {
  const sink = ownAggregation();
  let instance: ServiceInstance | undefined;
  let proxy: TcpProxy | undefined;
  let stopped = false;

  /** The processes whose memory is watched: the stack's (services, Kafka, ClickHouse) and the sink. */
  function memory(): Memory {
    const pids: Record<string, number> = { ...stackPids(), ...(instance ? { [SINK]: instance.pid } : {}) };
    const sample: Memory = {};
    for (const [name, pid] of Object.entries(pids)) {
      const mb = rssMb(pid);
      if (mb !== undefined) sample[name] = { pid, mb };
    }
    return sample;
  }

  afterAll(async () => {
    stopped = true;
    // Whatever happens, leave no fault behind for the stack's other users.
    for (const id of mockBrokerIds()) await kafkaControl(`up ${id}`).catch(() => undefined);
    await instance?.stop();
    await proxy?.close();
    await fetch(`${stackVar('CLICKHOUSE_URL')}/`, {
      method: 'POST',
      body: `DROP DATABASE IF EXISTS ${sink.names.clickhouse}`,
    });
  });

  it(
    'keeps the books balanced, the lag at zero and memory bounded under steady load and periodic faults',
    async () => {
      const books = await openBooks();
      const account = await provisionTenants(TENANTS);
      // Billed at the end: the last period, which every tenth batch is stamped in.
      const planId = uniqueName('soak').toLowerCase();
      const plan = await api(serviceUrl('billing'), 'POST', '/v1/plans', {
        key: stackVar('ADMIN_KEY'),
        body: {
          id: planId,
          name: 'Soak',
          currency: 'USD',
          baseFee: '10.00',
          meters: [
            { meterKey: 'api_calls', included: '1000', overage: { type: 'PER_UNIT', unitPrice: '0.01' } },
          ],
          gracePeriodHours: 35 * 24,
        },
      });
      expect(plan.status).toBe(201);
      const subscription = await api(
        serviceUrl('billing'),
        'PUT',
        `/v1/accounts/${account.accountId}/subscription`,
        {
          key: account.ownerKey,
          body: { planId, planVersion: 1, startAt: new Date(lastPeriod.startMs).toISOString(), anchorDay },
        },
      );
      expect(subscription.status).toBe(200);

      // The sink under test: consumes the real topic, reaches ClickHouse through a cuttable proxy.
      const clickhouse = new URL(stackVar('CLICKHOUSE_URL'));
      proxy = await tcpProxy(clickhouse.hostname, Number(clickhouse.port || 8123));
      const sinkEnv = { CLICKHOUSE_URL: `http://127.0.0.1:${proxy.port}` };
      const backlogEnds = await topicEnds([USAGE_TOPIC]);
      const setUpAt = Date.now();
      instance = await sink.start(sinkEnv);
      // A new group reads the topic from its start: let it catch up before the clock starts.
      const backlog = (await consumerGroupLag(sink.names.group, USAGE_TOPIC, backlogEnds[USAGE_TOPIC])).total;
      await eventually(
        async () =>
          (await consumerGroupLag(sink.names.group, USAGE_TOPIC, backlogEnds[USAGE_TOPIC])).total === 0
            ? true
            : undefined,
        { timeoutMs: 180 * SECOND, intervalMs: SECOND, what: 'the soak sink to catch up with the topic' },
      );
      const setUp = `sink ready and through a backlog of ${backlog} messages in ${((Date.now() - setUpAt) / SECOND).toFixed(1)} s`;

      const traffic: Traffic = { sent: 0, accepted: 0, rejected: 0, refusals: {} };
      const startedAt = Date.now();
      const producers = account.tenants.map((t) => produce(books, t, traffic, () => stopped));
      const peaks: Memory = {};
      const watchPeaks = () => {
        for (const [name, sample] of Object.entries(memory())) {
          if (sample.mb > (peaks[name]?.mb ?? 0)) peaks[name] = sample;
        }
      };
      const watcher = setInterval(watchPeaks, 5 * SECOND);

      await sleep(WARM_UP_MS);
      const warm = memory();
      const faults: string[] = [];
      const brokers = mockBrokerIds();
      for (let k = 0; Date.now() - startedAt < RUN_MS; k++) {
        const at = startedAt + WARM_UP_MS + k * FAULT_EVERY_MS;
        if (at >= startedAt + RUN_MS) break;
        await sleep(at - Date.now());
        const second = Math.round((Date.now() - startedAt) / SECOND);
        switch (k % 3) {
          case 0: {
            process.kill(instance.pid, 'SIGKILL');
            await instance.exited;
            const killedAt = Date.now();
            instance = await sink.start(sinkEnv);
            faults.push(`${second}s aggregation SIGKILL (ready again after ${Date.now() - killedAt} ms)`);
            break;
          }
          case 1: {
            const broker = brokers[Math.floor(k / 3) % brokers.length];
            await kafkaControl(`down ${broker}`);
            try {
              await sleep(OUTAGE_MS);
            } finally {
              await kafkaControl(`up ${broker}`);
            }
            faults.push(`${second}s Kafka broker ${broker} down ${OUTAGE_MS} ms`);
            break;
          }
          default: {
            proxy.cut();
            try {
              await sleep(OUTAGE_MS);
            } finally {
              proxy.restore();
            }
            faults.push(`${second}s ClickHouse cut off from the sink ${OUTAGE_MS} ms`);
          }
        }
      }
      await sleep(startedAt + RUN_MS - Date.now());
      stopped = true;
      await Promise.all(producers);
      const ranMs = Date.now() - startedAt;

      // Everything produced until now consumed and committed by the sink's group.
      const ends = await topicEnds([USAGE_TOPIC]);
      const caughtUpAt = Date.now();
      const lag = await eventually(
        async () => {
          const l = await consumerGroupLag(sink.names.group, USAGE_TOPIC, ends[USAGE_TOPIC]);
          return l.total === 0 ? l : undefined;
        },
        { timeoutMs: 120 * SECOND, intervalMs: SECOND, what: `the lag of ${sink.names.group} back to zero` },
      );
      const lagSeconds = (Date.now() - caughtUpAt) / SECOND;
      clearInterval(watcher);
      watchPeaks();
      const end = memory();

      const rss = Object.entries(warm).map(([name, before]) => {
        const after = end[name];
        // The sink is a new process after each SIGKILL: its bound is the first one's warm RSS.
        const comparable = after !== undefined && (after.pid === before.pid || name === SINK);
        return {
          name,
          warmMb: before.mb,
          peakMb: peaks[name]?.mb,
          endMb: after?.mb,
          within: !comparable || UNBOUNDED.has(name) || after.mb <= RSS_GROWTH_BOUND * before.mb,
          note:
            UNBOUNDED.get(name) ??
            (comparable ? '' : 'restarted by someone else during the soak: not compared'),
        };
      });
      console.info(
        runSummary({
          setUp,
          ranMs,
          traffic,
          faults,
          lag: lag.total,
          lagSeconds,
          rss,
          group: sink.names.group,
        }),
      );

      const onSink = await expectBooksBalance(account, books, {
        aggregationUrl: instance.url,
        clickhouseDatabase: sink.names.clickhouse,
        timeoutMs: 180 * SECOND,
      });
      console.info(booksSummary('the soak sink', onSink));
      // The stack's own aggregation bills: once it has counted everything, bill the last period.
      const apiCalls = new Map(account.tenants.map((t) => [t.tenantId, 0]));
      for (const e of books.accepted.all()) apiCalls.set(e.tenantId, (apiCalls.get(e.tenantId) ?? 0) + 1);
      for (const [tenantId, n] of apiCalls) await untilUsageEvents(tenantId, n, 'api_calls', 180 * SECOND);
      const run = await api(serviceUrl('billing'), 'POST', '/v1/billing-runs', {
        key: stackVar('ADMIN_KEY'),
        body: { asOf: new Date().toISOString(), accountId: account.accountId },
      });
      expect(run.status).toBe(200);
      const onStack = await expectBooksBalance(account, books, {
        billedPeriods: [new Date(lastPeriod.startMs).toISOString()],
        timeoutMs: 180 * SECOND,
      });
      console.info(booksSummary("the stack's aggregation and billing", onStack));

      expect(traffic.rejected).toBe(0);
      expect(faults.length).toBeGreaterThanOrEqual(
        Math.min(3, Math.floor((RUN_MS - WARM_UP_MS) / FAULT_EVERY_MS)),
      );
      expect(rss.filter((r) => !r.within)).toEqual([]);
    },
    RUN_MS + 15 * 60 * SECOND,
  );
});

function runSummary(s: {
  setUp: string;
  ranMs: number;
  traffic: Traffic;
  faults: string[];
  lag: number;
  lagSeconds: number;
  group: string;
  rss: { name: string; warmMb: number; peakMb?: number; endMb?: number; within: boolean; note: string }[];
}): string {
  return [
    `soak: ${(s.ranMs / SECOND).toFixed(0)} s at ${EVENTS_PER_SECOND} events/s for ${TENANTS} tenants, a fault every ${FAULT_EVERY_MS / SECOND} s after ${WARM_UP_MS / SECOND} s of warm-up`,
    s.setUp,
    `events: ${s.traffic.sent} sent, ${s.traffic.accepted} acknowledged, ${s.traffic.rejected} rejected; refused then retried (by status, 0 = no answer): ${JSON.stringify(s.traffic.refusals)}`,
    `faults (${s.faults.length}):`,
    ...s.faults.map((f) => `  ${f}`),
    `lag of ${s.group}: ${s.lag} (back to zero ${s.lagSeconds.toFixed(1)} s after the producers stopped)`,
    `RSS MB (bound: end ≤ ${RSS_GROWTH_BOUND} × after warm-up) — after warm-up / peak / end:`,
    ...s.rss.map(
      (r) =>
        `  ${r.name.padEnd(28)} ${r.warmMb} / ${r.peakMb ?? '-'} / ${r.endMb ?? '-'}${r.within ? '' : '  OVER THE BOUND'}${r.note ? `  (${r.note})` : ''}`,
    ),
  ].join('\n');
}

function booksSummary(where: string, r: BooksReport): string {
  return (
    `books balance on ${where}: ${r.accepted} acknowledged, ${r.stored} stored, ${r.consumed} consumed ` +
    `(${r.redelivered} redelivered), usage events ${JSON.stringify(r.usageEvents)}, ` +
    `${r.domainEvents} domain events = ${r.auditEntries} audit entries` +
    (r.billed.length > 0 ? `, billed ${r.billed.map((b) => `${b.meter} ${b.pooled}`).join(', ')}` : '')
  );
}
