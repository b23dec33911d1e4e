import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import {
  api,
  apiCallEvent,
  eventually,
  postEvents,
  stackVar,
  tenantUsage,
  uniqueName,
  type ServiceName,
} from '@metering/testing';
import {
  anyText,
  billedPeriod,
  catalogPlan,
  expectUnpairedSurrogatesRefused,
  storableText,
  targetUrl,
  tenancy,
  type Tenancy,
} from './hostile-fixtures';

/** Texts tried per field: each is one write and one read. */
const RUNS = Number(process.env.HOSTILE_RUNS ?? 30);

type Answer = { status: number; body: any };

const call = (service: ServiceName, method: string, path: string, key: string, body?: unknown) =>
  api(targetUrl(service), method, path, { key, body });

/** The field names a 400 gives, in either of the error shapes. */
function fieldsOf(answer: Answer): string[] {
  const details: unknown = answer.body?.error?.details;
  const list = Array.isArray(details) ? details : [details];
  return list.flatMap((d) => (typeof d?.field === 'string' ? [d.field as string] : []));
}

/**
 * The rule for every text field: a text that can be stored is taken and read back exactly as sent;
 * one that cannot (NUL, an unpaired surrogate) is refused with 400 naming the field. Returns the
 * write's answer when it was taken.
 */
async function expectRoundTrip(
  text: string,
  field: string,
  write: () => Promise<Answer>,
  readBack: (written: Answer) => Promise<unknown>,
): Promise<Answer | undefined> {
  const written = await write();
  if (!storableText(text)) {
    expect({ status: written.status, fields: fieldsOf(written) }).toEqual({
      status: 400,
      fields: expect.arrayContaining([field]),
    });
    return undefined;
  }
  expect({ field, status: written.status, body: written.status < 300 ? 'taken' : written.body }).toEqual({
    field,
    status: expect.any(Number),
    body: 'taken',
  });
  expect({ field, read: await readBack(written) }).toEqual({ field, read: text });
  return written;
}

describe('hostile text in every string field', () => {
  const admin = () => stackVar('ADMIN_KEY');
  let t: Tenancy;
  const registry = (method: string, path: string, body?: unknown) =>
    call('tenant-registry', method, path, t.ownerKey, body);

  beforeAll(async () => {
    t = await tenancy(1);
  });

  it('account names round-trip or are refused, naming the field', async () => {
    await fc.assert(
      fc.asyncProperty(anyText(), async (name) => {
        await expectRoundTrip(
          name,
          'name',
          () =>
            call('tenant-registry', 'POST', '/v1/accounts', admin(), {
              name,
              currency: 'USD',
              timezone: 'UTC',
              billingAnchorDay: 1,
            }),
          async (created) =>
            (await call('tenant-registry', 'GET', `/v1/accounts/${created.body.id}`, admin())).body.name,
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('tenant names, profiles and suspension reasons round-trip through the registry and the audit log', async () => {
    const expected: { tenantId: string; text: string }[] = [];
    await fc.assert(
      fc.asyncProperty(anyText(), async (text) => {
        const created = await expectRoundTrip(
          text,
          'name',
          () => registry('POST', `/v1/accounts/${t.accountId}/tenants`, { name: text }),
          async (answer) => (await registry('GET', `/v1/tenants/${answer.body.id}`)).body.name,
        );
        if (!created) return;
        const tenantId = created.body.id as string;
        const profile = { companyName: text, adminContact: { name: text, phone: text } };
        await expectRoundTrip(
          text,
          'profile.adminContact.phone',
          () => registry('PATCH', `/v1/tenants/${tenantId}`, { profile }),
          async () => {
            const read = (await registry('GET', `/v1/tenants/${tenantId}`)).body.profile;
            // All three as sent, or the first that differs.
            return (
              [read.companyName, read.adminContact.name, read.adminContact.phone].find((v) => v !== text) ??
              text
            );
          },
        );
        await expectRoundTrip(
          text,
          'reason',
          () => registry('POST', `/v1/tenants/${tenantId}/suspend`, { reason: text }),
          async () =>
            (await registry('GET', `/v1/tenants/${tenantId}/history`)).body.events.find(
              (e: { type: string }) => e.type === 'tenant.suspended',
            )?.data.reason,
        );
        expected.push({ tenantId, text });
      }),
      { numRuns: RUNS },
    );
    // Each text crossed Kafka into the audit log unchanged, and the hash chain over it verifies.
    for (const { tenantId, text } of expected) {
      const changes = await eventually(
        async () => {
          const page = await call('audit', 'GET', `/v1/audit/tenants/${tenantId}?action=tenant.`, t.ownerKey);
          const byAction = new Map<string, any>(page.body.entries?.map((e: any) => [e.action, e.change]));
          return byAction.has('tenant.created') && byAction.has('tenant.suspended') ? byAction : undefined;
        },
        { timeoutMs: 30_000, what: `the audit entries of ${tenantId}` },
      );
      expect({
        name: changes.get('tenant.created').name,
        reason: changes.get('tenant.suspended').reason,
      }).toEqual({
        name: text,
        reason: text,
      });
    }
    const verified = await call('audit', 'GET', `/v1/audit/verify?accountId=${t.accountId}`, t.ownerKey);
    expect(verified.body).toMatchObject({ ok: true });
  });

  it('key and template names round-trip or are refused, naming the field', async () => {
    const tenantId = t.tenants[0].tenantId;
    await fc.assert(
      fc.asyncProperty(anyText(), async (name) => {
        await expectRoundTrip(
          name,
          'name',
          () => registry('POST', `/v1/tenants/${tenantId}/api-keys`, { scopes: ['read'], name }),
          async (issued) =>
            (await registry('GET', `/v1/tenants/${tenantId}/api-keys`)).body.items.find(
              (k: { id: string }) => k.id === issued.body.id,
            )?.name,
        );
        await expectRoundTrip(
          name,
          'name',
          () => registry('POST', `/v1/accounts/${t.accountId}/management-keys`, { role: 'viewer', name }),
          async (issued) =>
            (await registry('GET', `/v1/accounts/${t.accountId}/management-keys`)).body.items.find(
              (k: { id: string }) => k.id === issued.body.id,
            )?.name,
        );
        await expectRoundTrip(
          name,
          'name',
          () => registry('POST', '/v1/templates', { accountId: t.accountId, name, limits: {} }),
          async (created) =>
            (await registry('GET', `/v1/templates?accountId=${t.accountId}`)).body.items.find(
              (x: { id: string }) => x.id === created.body.id,
            )?.name,
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('plan names round-trip or are refused, naming the field', async () => {
    await fc.assert(
      fc.asyncProperty(anyText(), async (name) => {
        const id = uniqueName('plan').toLowerCase();
        await expectRoundTrip(
          name,
          'name',
          () =>
            call('billing', 'POST', '/v1/plans', admin(), {
              id,
              name,
              currency: 'USD',
              baseFee: '1.00',
              meters: [],
              gracePeriodHours: 1,
            }),
          async () => (await call('billing', 'GET', `/v1/plans/${id}`, t.ownerKey)).body.name,
        );
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });

  it('meter names, units and event types round-trip or are refused, naming the field', async () => {
    // Created meters stay in the catalog: few of them, each counting an event type of its own.
    const prefix = uniqueName('hostile').toLowerCase();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(anyText(), async (text) => {
        const key = `${prefix}_${n++}`;
        const eventType = `${key}.${text}`;
        await expectRoundTrip(
          text,
          'name',
          () =>
            call('aggregation', 'POST', '/v1/meters', admin(), {
              key,
              name: text,
              unit: text,
              eventType,
              aggregation: 'COUNT',
            }),
          async () => {
            const meter = (await call('aggregation', 'GET', `/v1/meters/${key}`, t.ownerKey)).body;
            return meter.unit === text && meter.eventType === eventType ? meter.name : meter;
          },
        );
      }),
      { numRuns: 8 },
    );
  });

  it('a void reason round-trips, and an unstorable one is refused, naming the field', async () => {
    const invoiceId = await billedPeriod(t.accountId, t.ownerKey, await catalogPlan());
    const refused = await call('billing', 'POST', `/v1/invoices/${invoiceId}/void`, t.ownerKey, {
      reason: 'duplicate\u0000',
    });
    expect({ status: refused.status, fields: fieldsOf(refused) }).toEqual({
      status: 400,
      fields: ['reason'],
    });
    const reason = '‮ \'dup\' "licate" 😀 e\u0301 \u0001\u001f \u2028 \\ %00';
    expect(
      (await call('billing', 'POST', `/v1/invoices/${invoiceId}/void`, t.ownerKey, { reason })).status,
    ).toBe(200);
    expect((await call('billing', 'GET', `/v1/invoices/${invoiceId}`, t.ownerKey)).body.voidReason).toBe(
      reason,
    );
  });

  describe('usage events', () => {
    const ingestion = () => targetUrl('ingestion');

    /** Subjects equal only byte for byte: normalization, case folding or trimming would merge some. */
    const LOOKALIKES = [
      'é',
      'e\u0301',
      'ß',
      'ss',
      'A',
      'a',
      'Ａ',
      'İ',
      'i\u0307',
      'x',
      'x ',
      ' x',
      'x\u200b',
      'x\u0001',
      '👩‍👩‍👧',
      '👩👩👧',
      '\u202Ex',
      'ﬁ',
      'fi',
    ];

    it('counts distinct subjects exactly as sent, whatever their text', async () => {
      const { tenants } = await tenancy(1);
      const [{ tenantId, apiKey }] = tenants;
      await expectUnpairedSurrogatesRefused(apiKey);
      const generated = fc.sample(fc.uniqueArray(anyText(40), { minLength: 40, maxLength: 40 }), {
        seed: 20261124,
        numRuns: 1,
      })[0];
      const subjects = [...new Set([...LOOKALIKES, ...generated])];
      const storable = subjects.filter(storableText);
      const events = storable.map((subject) => apiCallEvent({ type: 'user.active', subject }));
      expect((await postEvents(ingestion(), events, apiKey)).body).toMatchObject({
        accepted: storable.length,
        rejected: [],
      });
      for (const subject of subjects.filter((s) => !storableText(s))) {
        const refused = await postEvents(
          ingestion(),
          [apiCallEvent({ type: 'user.active', subject })],
          apiKey,
        );
        expect({ subject, status: refused.status, fields: fieldsOf(refused) }).toEqual({
          subject,
          status: 400,
          fields: ['0.subject'],
        });
      }
      // Sent again, every one is a duplicate, and the count stays.
      expect((await postEvents(ingestion(), events, apiKey)).body).toMatchObject({
        accepted: 0,
        duplicates: storable.length,
      });
      const usage = await eventually(
        async () => {
          const u = await tenantUsage(tenantId, 'mau');
          return u.events === storable.length ? u : undefined;
        },
        { timeoutMs: 30_000, what: `${storable.length} user.active events in ClickHouse` },
      );
      expect(usage.value).toBe(String(storable.length));
    });

    it('tells ids and sources apart byte for byte, and a payload differing in one character is a conflict', async () => {
      const {
        tenants: [{ apiKey }],
      } = await tenancy(1);
      const base = randomUUID();
      const events = [
        ...LOOKALIKES.map((s) => apiCallEvent({ id: `${base}${s}` })),
        ...LOOKALIKES.map((s) => apiCallEvent({ id: base, source: `e2e://${s}` })),
      ];
      expect((await postEvents(ingestion(), events, apiKey)).body).toMatchObject({
        accepted: events.length,
        duplicates: 0,
      });
      expect((await postEvents(ingestion(), events, apiKey)).body).toMatchObject({
        accepted: 0,
        duplicates: events.length,
      });
      const original = apiCallEvent({ data: { note: 'é' } });
      expect((await postEvents(ingestion(), [original], apiKey)).body.accepted).toBe(1);
      const changed = { ...original, data: { note: 'e\u0301' } };
      const conflict = await fetch(`${ingestion()}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json', authorization: `Bearer ${apiKey}` },
        body: JSON.stringify(changed),
      });
      expect(conflict.status).toBe(409);
    });
  });
});
