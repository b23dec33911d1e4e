import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { PROTO_FILES } from '@metering/contracts';
import { GrpcClient } from '@metering/service-kit';
import {
  api,
  apiCallEvent,
  eventually,
  kafkaBrokers,
  postEvents,
  provisionTenants,
  serviceUrl,
  untilUsageEvents,
  uniqueName,
} from '@metering/testing';
import { UsageClient } from '@metering/usage-sdk';

const ingestion = serviceUrl('ingestion');

describe('gRPC ingest', () => {
  const client = new GrpcClient(PROTO_FILES.ingestion, 'metering.ingestion.v1.Ingestion', '127.0.0.1:50052');
  afterAll(() => client.close());

  interface Reply {
    accepted: number;
    duplicates: number;
    rejected: { index: number; id: string; reasons: string[] }[];
    conflicts: { index: number; id: string; reasons: string[] }[];
  }
  const ingest = (apiKey: string, events: unknown[]) =>
    client.unary<Reply>('Ingest', { apiKey, eventsJson: events.map((e) => JSON.stringify(e)) }, 5_000);

  it('has the REST semantics: per-event outcomes, duplicates, conflicts, and the key decides the tenant', async () => {
    const {
      tenants: [{ tenantId, apiKey }],
    } = await provisionTenants(1);
    const events = [apiCallEvent(), apiCallEvent({ type: 'nope' })];
    const first = await ingest(apiKey, events);
    expect(first).toMatchObject({ accepted: 1, duplicates: 0, rejected: [{ index: 1, id: events[1].id }] });
    const again = await ingest(apiKey, [events[0], { ...events[0], data: { route: '/other' } }]);
    expect(again).toMatchObject({ accepted: 0, duplicates: 1, conflicts: [{ index: 1 }] });
    // Sent over REST too: still one event.
    expect((await postEvents(ingestion, [events[0]], apiKey)).body.duplicates).toBe(1);
    await untilUsageEvents(tenantId, 1);
  });

  it('names a body element that is not JSON', async () => {
    const {
      tenants: [{ apiKey }],
    } = await provisionTenants(1);
    const reply = await client.unary<Reply>('Ingest', { apiKey, eventsJson: ['{nope'] }, 5_000);
    expect(reply.rejected).toEqual([{ index: 0, id: '', reasons: ['$: not valid JSON'] }]);
  });

  it('names the field of an unpaired surrogate, as REST does', async () => {
    const {
      tenants: [{ apiKey }],
    } = await provisionTenants(1);
    // Of a type no meter counts: without the check it is refused for its type, never published.
    const event = apiCallEvent({ type: `${uniqueName('unmetered')}.probe`, subject: 'user\uD800' });
    expect((await ingest(apiKey, [event])).rejected).toEqual([
      {
        index: 0,
        id: event.id,
        reasons: ['subject: must be well-formed Unicode (it has an unpaired surrogate)'],
      },
    ]);
  });

  it('refuses an unknown key with UNAUTHENTICATED', async () => {
    await expect(ingest('ak_unknown_secret', [apiCallEvent()])).rejects.toMatchObject({
      code: 16,
      details: expect.stringMatching(/^invalid_api_key/),
    });
  });
});

describe('direct Kafka producers (usage.ingest.v1)', () => {
  const kafka = new Kafka({ brokers: kafkaBrokers(), clientId: 'e2e-direct', logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  let dlq: Consumer;
  /** Dead letters by the text of their value (delivery is at least once: there may be several). */
  const deadLetters = new Map<string, { reason: string; sourceTopic: string }[]>();

  beforeAll(async () => {
    await producer.connect();
    dlq = kafka.consumer({ groupId: uniqueName('e2e-dlq'), maxWaitTimeInMs: 200 });
    await dlq.connect();
    await dlq.subscribe({ topic: 'usage.events.dlq.v1', fromBeginning: true });
    await dlq.run({
      eachMessage: ({ message }) => {
        const header = (name: string) => message.headers?.[name]?.toString() ?? '';
        const value = message.value?.toString() ?? '';
        deadLetters.set(value, [
          ...(deadLetters.get(value) ?? []),
          { reason: header('x-dlq-reason'), sourceTopic: header('x-dlq-source-topic') },
        ]);
        return Promise.resolve();
      },
    });
  });

  afterAll(async () => {
    await dlq.disconnect();
    await producer.disconnect();
  });

  const send = (values: (string | Buffer | object)[]) =>
    producer.send({
      topic: 'usage.ingest.v1',
      acks: -1,
      messages: values.map((v) => ({
        value: typeof v === 'string' || Buffer.isBuffer(v) ? v : JSON.stringify(v),
      })),
    });

  const deadLetterOf = (value: string) =>
    eventually(() => deadLetters.get(value)?.[0], {
      timeoutMs: 30_000,
      what: `dead letter for ${value.slice(0, 60)}`,
    });

  /** The dead letter of `value` whose reason matches; failing, the reasons it was dead-lettered with. */
  async function deadLetterMatching(value: string, reason: RegExp) {
    try {
      return await eventually(() => deadLetters.get(value)?.find((d) => reason.test(d.reason)), {
        timeoutMs: 30_000,
        what: `dead letter for ${value.slice(0, 60)} with a reason matching ${String(reason)}`,
      });
    } catch (err) {
      const seen = (deadLetters.get(value) ?? []).map((d) => d.reason);
      throw new Error(`${(err as Error).message}; dead-lettered with ${JSON.stringify(seen)}`);
    }
  }

  /**
   * An event of `tenantId` of a type no meter counts: one the intake refuses whatever else is
   * wrong with it, so that even without the checks under test it would never reach the
   * aggregation sink (an unpaired surrogate there stalls it: ClickHouse refuses them).
   */
  const unmeteredEvent = (tenantId: string, patch: Record<string, unknown> = {}) =>
    apiCallEvent({ tenantid: tenantId, type: `${uniqueName('unmetered')}.probe`, ...patch });

  it('republishes valid events, dead-letters the rest with the reason, and keeps the partition moving', async () => {
    const {
      tenants: [{ tenantId, apiKey }],
    } = await provisionTenants(1);
    const good = apiCallEvent({ tenantid: tenantId });
    const poison = `{"not json ${randomUUID()}`;
    const noTenant = apiCallEvent();
    const unknownTenant = apiCallEvent({ tenantid: `t-${randomUUID()}` });
    const badType = apiCallEvent({ tenantid: tenantId, type: 'unknown.type' });
    const after = apiCallEvent({ tenantid: tenantId });
    await send([good, poison, noTenant, unknownTenant, badType, after]);

    await untilUsageEvents(tenantId, 2);
    expect((await deadLetterOf(poison)).reason).toMatch(/^value is not JSON/);
    expect(await deadLetterOf(JSON.stringify(noTenant))).toEqual({
      reason: 'tenantid: required for events sent to usage.ingest.v1',
      sourceTopic: 'usage.ingest.v1',
    });
    expect((await deadLetterOf(JSON.stringify(unknownTenant))).reason).toMatch(/^tenantid: unknown tenant/);
    expect((await deadLetterOf(JSON.stringify(badType))).reason).toBe(
      'rejected: type: no meter counts events of type "unknown.type"',
    );
    // The same event over REST afterwards is a duplicate: one ledger for every path.
    const { tenantid: _t, ...overRest } = good;
    expect((await postEvents(ingestion, [overRest], apiKey)).body.duplicates).toBe(1);
  });

  it('dead-letters an unpaired surrogate in any attribute, naming the field', async () => {
    const {
      tenants: [{ tenantId }],
    } = await provisionTenants(1);
    const unpaired = 'must be well-formed Unicode \\(it has an unpaired surrogate\\)';
    // JSON text carries them as escapes (`\ud800`), as JSON.stringify writes them.
    const cases: [RegExp, Record<string, unknown>][] = [
      [/subject/, unmeteredEvent(tenantId, { subject: 'user\uD800' })],
      [/source/, unmeteredEvent(tenantId, { source: '\uDC00e2e://producer' })],
      [/id/, unmeteredEvent(tenantId, { id: `${randomUUID()}\uDBFF` })],
      [/type/, unmeteredEvent(tenantId, { type: `${uniqueName('unmetered')}.probe\uDFFF` })],
      [/data\.route/, unmeteredEvent(tenantId, { data: { route: '/v1/\uD83D' } })],
      [/data\.nested\.list\.1/, unmeteredEvent(tenantId, { data: { nested: { list: ['a', 'b\uDE00'] } } })],
    ];
    await send(cases.map(([, event]) => event));
    for (const [field, event] of cases) {
      const reason = new RegExp(`^contract UsageCloudEvent: ${field.source}: ${unpaired}$`);
      expect(await deadLetterMatching(JSON.stringify(event), reason)).toEqual({
        reason: expect.any(String),
        sourceTopic: 'usage.ingest.v1',
      });
    }
    // In a property name: the reason names it (its unpaired half arrives as U+FFFD in the header).
    const badKey = unmeteredEvent(tenantId, { data: { 'k\uD800': 1 } });
    await send([badKey]);
    await deadLetterMatching(
      JSON.stringify(badKey),
      new RegExp(`^contract UsageCloudEvent: data\\.k\uFFFD: its name ${unpaired}$`),
    );
  });

  it('dead-letters a value that is not UTF-8 as malformed, rather than reading U+FFFD into it', async () => {
    const {
      tenants: [{ tenantId }],
    } = await provisionTenants(1);
    const withBytes = (bytes: number[]) => {
      const [before, after] = JSON.stringify(unmeteredEvent(tenantId, { subject: 'user-@@' })).split('@@');
      return Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]);
    };
    const values = [
      withBytes([0xff]), // a byte UTF-8 never uses
      withBytes([0xed, 0xa0, 0x80]), // U+D800 encoded as if it were a character (CESU-8)
      withBytes([0xc3]), // a sequence cut short
      withBytes([0xc0, 0xaf]), // an overlong '/'
    ];
    await send(values);
    for (const value of values) {
      await deadLetterMatching(value.toString(), /^value is not .*utf-8/i);
    }
  });

  it('refuses events of a suspended tenant', async () => {
    const { ownerKey, tenants } = await provisionTenants(1);
    const [{ tenantId }] = tenants;
    await api(serviceUrl('tenant-registry'), 'POST', `/v1/tenants/${tenantId}/suspend`, {
      key: ownerKey,
      body: {},
    });
    const event = apiCallEvent({ tenantid: tenantId });
    await send([event]);
    expect((await deadLetterOf(JSON.stringify(event))).reason).toMatch(/^tenant_suspended/);
  });
});

describe(UsageClient.name, () => {
  it('delivers a producer’s events through the real endpoint, each counted once', async () => {
    const {
      tenants: [{ tenantId, apiKey }],
    } = await provisionTenants(1);
    const client = new UsageClient({ baseUrl: ingestion, apiKey, source: 'e2e://sdk', maxBatch: 200 });
    const outcomes = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) =>
        client.track({ type: 'api.call', subject: `u-${i % 7}`, data: { i } }),
      ),
    );
    await client.close();
    expect(outcomes.every((o) => o.status === 'accepted')).toBe(true);
    await untilUsageEvents(tenantId, 1_000);
  });
});
