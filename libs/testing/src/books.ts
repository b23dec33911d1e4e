import { Kafka, logLevel, type Consumer, type KafkaMessage } from 'kafkajs';
import {
  BILLING_EVENTS_TOPIC,
  QUOTA_EVENTS_TOPIC,
  REGISTRY_EVENTS_TOPIC,
  WEBHOOKS_EVENTS_TOPIC,
} from '@metering/contracts';
import { api } from './http';
import { topicEnds, type TopicOffsets } from './kafka-offsets';
import { serviceUrl } from './services';
import { eventually, kafkaBrokers, stackVar, uniqueName } from './stack';
import type { IngestBody, ProvisionedAccount } from './usage-events';

/** The domain-event topics the audit log records (audit's default `AUDIT_TOPICS`). */
const AUDITED_TOPICS = [
  REGISTRY_EVENTS_TOPIC,
  BILLING_EVENTS_TOPIC,
  QUOTA_EVENTS_TOPIC,
  WEBHOOKS_EVENTS_TOPIC,
].map((t) => t.name);

/** How many ids a problem names before it says "…". */
const SHOWN = 5;

/** A usage event the platform acknowledged: it must be stored and counted exactly once. */
export interface AcceptedEvent {
  tenantId: string;
  id: string;
  type: string;
  timeMs: number;
}

const eventKey = (tenantId: string, id: string) => `${tenantId}/${id}`;

/** The usage events a scenario had acknowledged, as a set of (tenant, event id). */
export class AcceptedEvents {
  private readonly events = new Map<string, AcceptedEvent>();

  /**
   * Books the events of one `POST /v1/events` batch: on a 202, every event but those ingestion
   * rejected (a duplicate was accepted before); nothing on any other answer.
   */
  record(
    tenantId: string,
    events: readonly Record<string, unknown>[],
    answer: { status: number; body: IngestBody },
  ): number {
    if (answer.status !== 202) return 0;
    const rejected = new Set(answer.body.rejected.map((r) => r.index));
    let booked = 0;
    events.forEach((event, index) => {
      if (rejected.has(index)) return;
      const time = event.time;
      this.add({
        tenantId,
        id: stringField(event, 'id'),
        type: stringField(event, 'type'),
        timeMs: typeof time === 'string' ? Date.parse(time) : Date.now(),
      });
      booked++;
    });
    return booked;
  }

  /** Books an event acknowledged another way (e.g. produced to `usage.events.v1` with acks=all). */
  add(event: AcceptedEvent): void {
    this.events.set(eventKey(event.tenantId, event.id), event);
  }

  get size(): number {
    return this.events.size;
  }

  has(tenantId: string, id: string): boolean {
    return this.events.has(eventKey(tenantId, id));
  }

  all(): AcceptedEvent[] {
    return [...this.events.values()];
  }
}

function stringField(event: Record<string, unknown>, field: string): string {
  const value = event[field];
  if (typeof value !== 'string') throw new Error(`cannot book an event whose ${field} is not a string`);
  return value;
}

/** What a scenario keeps to check its books at the end. */
export interface Books {
  /** The usage events acknowledged during the scenario (the test books them). */
  readonly accepted: AcceptedEvents;
  /** Where the audited domain-event topics ended when the books were opened. */
  readonly domainTopicsFrom: TopicOffsets;
}

/** Opens the books: call it before the scenario creates its account. */
export async function openBooks(): Promise<Books> {
  return { accepted: new AcceptedEvents(), domainTopicsFrom: await topicEnds(AUDITED_TOPICS) };
}

export interface BooksOptions {
  /** The aggregation whose usage and reconciliation are read (default: the stack's). */
  aggregationUrl?: string;
  /** The ClickHouse server that aggregation writes (default: the stack's). */
  clickhouseUrl?: string;
  /** The ClickHouse database that aggregation writes (default: the stack's, `metering`). */
  clickhouseDatabase?: string;
  /** Meters whose per-tenant event counts must equal the acknowledged events of their type. */
  meters?: readonly string[];
  /**
   * Starts (RFC 3339) of closed billing periods the scenario billed: the account's invoice for
   * each must bill, per usage line, the pooled usage aggregation reports for the line's range.
   */
  billedPeriods?: readonly string[];
  /** How long the books may take to settle (redelivery, rollups, the audit consumer). */
  timeoutMs?: number;
}

/** The figures of balanced books. */
export interface BooksReport {
  accountId: string;
  /** Usage events acknowledged (distinct tenant and id). */
  accepted: number;
  /** Distinct events stored for the account. */
  stored: number;
  /** Records the sink consumed for the account, redeliveries included, and of those the copies. */
  consumed: number;
  redelivered: number;
  /** Per meter, the events `GET /v1/usage` counts for the account. */
  usageEvents: Record<string, number>;
  /** Distinct domain events published for the account, and its audit entries. */
  domainEvents: number;
  auditEntries: number;
  /** Per billed period and meter, the quantity billed. */
  billed: { periodStart: string; meter: string; pooled: string }[];
}

/**
 * The books of an account balance, once the platform has settled: every acknowledged usage event
 * is stored once and no other (ClickHouse: no API lists event ids); `GET /v1/usage` counts each
 * tenant's acknowledged events per meter; `GET /v1/reconciliation` finds as many distinct events,
 * at least as many consumed, and rollups equal to the deduplicated raw rows; each billed period's
 * invoice bills the pooled usage; every domain event published for the account (read from the
 * audited topics) is one audit entry, there are no others, and the chain verifies. Throws naming
 * every imbalance when they do not settle within `timeoutMs`.
 */
export async function expectBooksBalance(
  account: ProvisionedAccount,
  books: Books,
  options: BooksOptions = {},
): Promise<BooksReport> {
  const published = await PublishedEvents.open(account.accountId, books.domainTopicsFrom);
  const reader: Reader = {
    account,
    accepted: books.accepted.all(),
    aggregation: options.aggregationUrl ?? serviceUrl('aggregation'),
    clickhouseUrl: options.clickhouseUrl ?? stackVar('CLICKHOUSE_URL'),
    clickhouseDatabase: options.clickhouseDatabase ?? 'metering',
    published,
  };
  try {
    return await eventually(
      async () => {
        const problems: string[] = [];
        const report: BooksReport = {
          accountId: account.accountId,
          accepted: reader.accepted.length,
          ...(await storedEvents(reader, problems)),
          ...(await reconciliation(reader, problems)),
          usageEvents: await usageEvents(reader, options.meters ?? ['api_calls'], problems),
          ...(await auditTrail(reader, problems)),
          billed: await billed(reader, options.billedPeriods ?? [], problems),
        };
        if (problems.length > 0) throw new Error(problems.map((p) => `\n  - ${p}`).join(''));
        return report;
      },
      {
        timeoutMs: options.timeoutMs ?? 90_000,
        intervalMs: 1_000,
        what: `the books of ${account.accountId} to balance`,
      },
    );
  } finally {
    await published.close();
  }
}

interface Reader {
  account: ProvisionedAccount;
  accepted: AcceptedEvent[];
  aggregation: string;
  clickhouseUrl: string;
  clickhouseDatabase: string;
  published: PublishedEvents;
}

const some = (items: readonly string[]) =>
  items.slice(0, SHOWN).join(', ') + (items.length > SHOWN ? `, … (${items.length})` : '');

/** Acknowledged = stored, as sets of (tenant, event id). */
async function storedEvents(r: Reader, problems: string[]): Promise<Pick<BooksReport, 'stored'>> {
  // Over HTTP: the ClickHouse client's own tests build on this library.
  if (!/^[A-Za-z0-9_-]+$/.test(r.account.accountId)) throw new Error('unexpected account id');
  const res = await fetch(`${r.clickhouseUrl}/?database=${r.clickhouseDatabase}`, {
    method: 'POST',
    body: `SELECT tenant_id, event_id FROM usage_events WHERE account_id = '${r.account.accountId}'
      GROUP BY tenant_id, event_id FORMAT JSONEachRow`,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse: ${text}`);
  const rows = text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { tenant_id: string; event_id: string });
  const stored = new Set(rows.map((row) => eventKey(row.tenant_id, row.event_id)));
  const missing = r.accepted.map((e) => eventKey(e.tenantId, e.id)).filter((k) => !stored.has(k));
  const acceptedKeys = new Set(r.accepted.map((e) => eventKey(e.tenantId, e.id)));
  const unacknowledged = [...stored].filter((k) => !acceptedKeys.has(k));
  if (missing.length > 0) problems.push(`${missing.length} acknowledged events not stored: ${some(missing)}`);
  if (unacknowledged.length > 0) {
    problems.push(
      `${unacknowledged.length} events stored that were never acknowledged: ${some(unacknowledged)}`,
    );
  }
  return { stored: stored.size };
}

/** The acknowledged events' time range, whole hours around it, for reconciliation. */
function timeRange(accepted: readonly AcceptedEvent[]): { from: string; to: string } {
  const to = accepted.length > 0 ? latest(accepted) + 1 : Date.now();
  const from = accepted.reduce((min, e) => Math.min(min, e.timeMs), to - 3_600_000);
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
}

const latest = (accepted: readonly AcceptedEvent[]) =>
  accepted.reduce((max, e) => Math.max(max, e.timeMs), 0);

interface ReconciledHour {
  hour: string;
  consumed: number;
  distinctEvents: number;
  redelivered: number;
  meteredValues: number;
  rolledUpValues: number;
  rollup: 'current' | 'stale' | 'mismatch';
}

/** Reconciliation: as many distinct events as acknowledged, nothing stored unconsumed, rollups current. */
async function reconciliation(
  r: Reader,
  problems: string[],
): Promise<Pick<BooksReport, 'consumed' | 'redelivered'>> {
  const query = new URLSearchParams({ accountId: r.account.accountId, ...timeRange(r.accepted) });
  const res = await api<{ hours: ReconciledHour[] }>(
    r.aggregation,
    'GET',
    `/v1/reconciliation?${query.toString()}`,
    { key: r.account.ownerKey },
  );
  if (res.status !== 200) throw new Error(`GET /v1/reconciliation answered ${res.status}`);
  const sum = (field: 'consumed' | 'distinctEvents' | 'redelivered') =>
    res.body.hours.reduce((n, h) => n + h[field], 0);
  if (sum('distinctEvents') !== r.accepted.length) {
    problems.push(
      `reconciliation finds ${sum('distinctEvents')} distinct events, ${r.accepted.length} acknowledged`,
    );
  }
  for (const h of res.body.hours) {
    if (h.consumed < h.distinctEvents) {
      problems.push(`hour ${h.hour}: ${h.distinctEvents} events stored but ${h.consumed} consumed`);
    }
    if (h.rollup !== 'current') {
      problems.push(
        `hour ${h.hour}: rollup ${h.rollup} (${h.rolledUpValues} rolled up, ${h.meteredValues} deduplicated raw values)`,
      );
    }
  }
  return { consumed: sum('consumed'), redelivered: sum('redelivered') };
}

interface UsageAnswer {
  value: string;
  events: number;
  tenants: { tenantId: string; usage: string; contribution: string; events: number }[];
}

async function usageOf(r: Reader, meter: string, from: string | undefined, to: string): Promise<UsageAnswer> {
  const query = new URLSearchParams({ meter, accountId: r.account.accountId, to, ...(from ? { from } : {}) });
  const res = await api<UsageAnswer>(r.aggregation, 'GET', `/v1/usage?${query.toString()}`, {
    key: r.account.ownerKey,
  });
  if (res.status !== 200) throw new Error(`GET /v1/usage?${query.toString()} answered ${res.status}`);
  return res.body;
}

async function eventTypeOf(r: Reader, meter: string): Promise<string> {
  const res = await api<{ eventType: string }>(r.aggregation, 'GET', `/v1/meters/${meter}`, {
    key: r.account.ownerKey,
  });
  if (res.status !== 200) throw new Error(`GET /v1/meters/${meter} answered ${res.status}`);
  return res.body.eventType;
}

/** Per tenant, acknowledged events of the type in [fromMs, toMs). */
function expectedCounts(r: Reader, type: string, fromMs = -Infinity, toMs = Infinity): Map<string, number> {
  const counts = new Map(r.account.tenants.map((t) => [t.tenantId, 0]));
  for (const e of r.accepted) {
    if (e.type === type && e.timeMs >= fromMs && e.timeMs < toMs) {
      counts.set(e.tenantId, (counts.get(e.tenantId) ?? 0) + 1);
    }
  }
  return counts;
}

/** Compares each tenant's counted events with what was acknowledged. */
function compareCounts(
  what: string,
  usage: UsageAnswer,
  expected: Map<string, number>,
  problems: string[],
): void {
  const counted = new Map(usage.tenants.map((t) => [t.tenantId, t.events]));
  for (const tenantId of new Set([...expected.keys(), ...counted.keys()])) {
    const want = expected.get(tenantId) ?? 0;
    const got = counted.get(tenantId) ?? 0;
    if (want !== got)
      problems.push(`${what}: tenant ${tenantId} counted ${got} events, ${want} acknowledged`);
  }
}

/** `GET /v1/usage` counts each tenant's acknowledged events of the meter's type, each once. */
async function usageEvents(
  r: Reader,
  meters: readonly string[],
  problems: string[],
): Promise<Record<string, number>> {
  const counted: Record<string, number> = {};
  // Up to the latest event, so that events stamped a little ahead of this clock count too.
  const to = new Date(Math.max(Date.now(), latest(r.accepted) + 1)).toISOString();
  for (const meter of meters) {
    const usage = await usageOf(r, meter, undefined, to);
    compareCounts(`usage of ${meter}`, usage, expectedCounts(r, await eventTypeOf(r, meter)), problems);
    counted[meter] = usage.events;
  }
  return counted;
}

/** An invoice as billing's REST API answers it, as far as tests read it. */
export interface InvoiceBody {
  id: string;
  mode: 'pooled' | 'tenant';
  tenantId: string | null;
  status: string;
  periodStart: string;
  total: { minor: number };
  lines: {
    kind: string;
    meterKey?: string;
    pooled?: string;
    from: string;
    to: string;
    amount: { minor: number };
    attribution: { tenantId: string; quantity: string; amount: { minor: number } }[];
  }[];
}

/** Each billed period's pooled invoice bills, per usage line, the pooled usage of the line's range. */
async function billed(
  r: Reader,
  periods: readonly string[],
  problems: string[],
): Promise<BooksReport['billed']> {
  if (periods.length === 0) return [];
  const res = await api<{ invoices: InvoiceBody[] }>(
    serviceUrl('billing'),
    'GET',
    `/v1/accounts/${r.account.accountId}/invoices?limit=100`,
    { key: r.account.ownerKey },
  );
  if (res.status !== 200) throw new Error(`GET /v1/accounts/:id/invoices answered ${res.status}`);
  const lines: BooksReport['billed'] = [];
  for (const periodStart of periods) {
    const invoice = res.body.invoices.find(
      (i) =>
        i.tenantId === null && i.status !== 'void' && Date.parse(i.periodStart) === Date.parse(periodStart),
    );
    if (!invoice) {
      problems.push(`no invoice for the period starting ${periodStart}`);
      continue;
    }
    for (const line of invoice.lines) {
      if (line.kind !== 'usage' || !line.meterKey) continue;
      const usage = await usageOf(r, line.meterKey, line.from, line.to);
      const what = `invoice ${invoice.id} ${line.meterKey} [${line.from}, ${line.to})`;
      if (line.pooled !== usage.value)
        problems.push(`${what} bills ${line.pooled}, pooled usage is ${usage.value}`);
      const billedTo = new Map(line.attribution.map((a) => [a.tenantId, a.quantity]));
      for (const t of usage.tenants) {
        const quantity = billedTo.get(t.tenantId) ?? '0';
        if (quantity !== t.contribution) {
          problems.push(
            `${what} attributes ${quantity} to ${t.tenantId}, its contribution is ${t.contribution}`,
          );
        }
      }
      compareCounts(
        what,
        usage,
        expectedCounts(r, await eventTypeOf(r, line.meterKey), Date.parse(line.from), Date.parse(line.to)),
        problems,
      );
      lines.push({ periodStart, meter: line.meterKey, pooled: line.pooled ?? '' });
    }
  }
  return lines;
}

interface AuditEntry {
  eventId: string;
  action: string;
  source: string;
}

async function auditEntries(r: Reader): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({
      accountId: r.account.accountId,
      limit: '1000',
      ...(cursor ? { cursor } : {}),
    });
    const res: { status: number; body: { entries: AuditEntry[]; nextCursor: string | null } } = await api(
      serviceUrl('audit'),
      'GET',
      `/v1/audit?${query.toString()}`,
      { key: r.account.ownerKey },
    );
    if (res.status !== 200) throw new Error(`GET /v1/audit answered ${res.status}`);
    entries.push(...res.body.entries);
    cursor = res.body.nextCursor;
  } while (cursor);
  return entries;
}

/** Domain events published for the account = its audit entries, and the chain verifies. */
async function auditTrail(
  r: Reader,
  problems: string[],
): Promise<Pick<BooksReport, 'domainEvents' | 'auditEntries'>> {
  await r.published.readToEnd();
  const published = r.published.events;
  problems.push(...r.published.unreadable);
  const expected: [type: string, id: string][] = [
    ['account.created', r.account.accountId],
    ...r.account.tenants.map((t): [string, string] => ['tenant.created', t.tenantId]),
  ];
  for (const [type, id] of expected) {
    if (![...published.values()].some((e) => e.type === type && (e.tenantId ?? r.account.accountId) === id)) {
      problems.push(`no ${type} of ${id} published (is the relay or the topic reader behind?)`);
    }
  }
  const entries = await auditEntries(r);
  // Retention changes and prunings are the audit log's own entries, not published events.
  const recorded = entries.filter((e) => e.source !== 'audit').map((e) => e.eventId);
  const recordedSet = new Set(recorded);
  const unaudited = [...published.keys()].filter((id) => !recordedSet.has(id));
  const unpublished = recorded.filter((id) => !published.has(id));
  if (unaudited.length > 0)
    problems.push(`${unaudited.length} published domain events not audited: ${some(unaudited)}`);
  if (unpublished.length > 0) {
    problems.push(`${unpublished.length} audit entries of no published event: ${some(unpublished)}`);
  }
  if (recordedSet.size !== recorded.length) {
    problems.push(`${recorded.length - recordedSet.size} domain events audited more than once`);
  }
  const verify = await api<{ ok: boolean; entries: number; firstBroken?: unknown }>(
    serviceUrl('audit'),
    'GET',
    `/v1/audit/verify?accountId=${r.account.accountId}`,
    { key: r.account.ownerKey },
  );
  if (verify.status !== 200 || !verify.body.ok || verify.body.entries !== entries.length) {
    problems.push(
      `audit chain does not verify over ${entries.length} entries: ${JSON.stringify(verify.body)}`,
    );
  }
  return { domainEvents: published.size, auditEntries: entries.length };
}

/**
 * The domain events published for one account on the audited topics, read from where the books
 * were opened (messages are keyed by account id; an outbox may publish one event twice).
 */
class PublishedEvents {
  readonly events = new Map<string, { type: string; tenantId?: string }>();
  readonly unreadable: string[] = [];
  /** Per topic and partition, the offset after the last message read. */
  private readonly read: TopicOffsets = {};

  private constructor(
    private readonly consumer: Consumer,
    private readonly accountId: string,
    private readonly from: TopicOffsets,
  ) {}

  static async open(accountId: string, from: TopicOffsets): Promise<PublishedEvents> {
    const consumer = new Kafka({
      brokers: kafkaBrokers(),
      clientId: 'e2e-books',
      logLevel: logLevel.NOTHING,
    }).consumer({ groupId: uniqueName('e2e-books'), maxWaitTimeInMs: 200 });
    const reader = new PublishedEvents(consumer, accountId, from);
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: Object.keys(from), fromBeginning: true });
      await consumer.run({
        eachBatch: ({ batch }) => {
          for (const message of batch.messages) reader.take(batch.topic, batch.partition, message);
          return Promise.resolve();
        },
      });
      // Older messages cannot be the account's (it did not exist yet): skip them.
      for (const [topic, partitions] of Object.entries(from)) {
        for (const [partition, offset] of Object.entries(partitions)) {
          consumer.seek({ topic, partition: Number(partition), offset: String(offset) });
        }
      }
    } catch (err) {
      await consumer.disconnect();
      throw err;
    }
    return reader;
  }

  private take(topic: string, partition: number, message: KafkaMessage): void {
    const read = (this.read[topic] ??= {});
    read[partition] = Math.max(read[partition] ?? 0, Number(message.offset) + 1);
    if (message.key?.toString() !== this.accountId) return;
    const event = parseEvent(message.value);
    if (event) this.events.set(event.eventId, { type: event.type, tenantId: event.tenantId });
    else this.unreadable.push(`unreadable domain event at ${topic}/${partition}@${message.offset}`);
  }

  /** Waits until every message published so far has been read. */
  async readToEnd(): Promise<void> {
    const ends = await topicEnds(Object.keys(this.from));
    await eventually(
      () =>
        Object.entries(ends).every(([topic, partitions]) =>
          Object.entries(partitions).every(
            ([partition, end]) =>
              end <=
              Math.max(
                this.from[topic]?.[Number(partition)] ?? 0,
                this.read[topic]?.[Number(partition)] ?? 0,
              ),
          ),
        )
          ? true
          : undefined,
      { timeoutMs: 30_000, what: 'the domain-event topics read to their end' },
    );
  }

  close(): Promise<void> {
    return this.consumer.disconnect();
  }
}

function parseEvent(value: Buffer | null): { eventId: string; type: string; tenantId?: string } | undefined {
  try {
    const event = JSON.parse(value?.toString() ?? '') as {
      eventId?: unknown;
      type?: unknown;
      tenantId?: unknown;
    };
    if (typeof event.eventId !== 'string' || typeof event.type !== 'string') return undefined;
    return {
      eventId: event.eventId,
      type: event.type,
      tenantId: typeof event.tenantId === 'string' ? event.tenantId : undefined,
    };
  } catch {
    return undefined;
  }
}
