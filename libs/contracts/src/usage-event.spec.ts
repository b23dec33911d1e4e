import fc from 'fast-check';
import { isRfc3339 } from './rfc3339';
import { USAGE_INGEST_TOPIC } from './topics';
import {
  UsageCloudEvent,
  UsageEventRecord,
  checkUsageCloudEvent,
  checkUsageEventBatch,
  checkUsageEventRecord,
} from './usage-event';
import { validateAs, type Validated } from './validation';

const fieldsOf = (v: Validated<object>) => (v.ok ? [] : v.errors.map((e) => e.field).sort());

/** The top-level attributes named (a class names `data` where the fast check names `data.k`). */
const attributesOf = (v: Validated<object>) => [...new Set(fieldsOf(v).map((f) => f.split('.')[0]))].sort();

/** Each field either a plausible valid value, an arbitrary JSON value, or absent. */
function objectsAround(valid: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const fields = Object.fromEntries(
    Object.entries(valid).map(([k, arb]) => [k, fc.oneof({ weight: 3, arbitrary: arb }, fc.jsonValue())]),
  );
  return fc.record(fields, { requiredKeys: [] });
}

/** Short text from every plane, now and then with a NUL or an unpaired surrogate half in it. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc
    .tuple(
      fc.string({ unit: 'binary', maxLength: 4 }),
      fc.constantFrom('\u0000', '\uD800', '\uDBFF', '\uDC00', '\uDFFF'),
      fc.string({ unit: 'binary', maxLength: 4 }),
    )
    .map((parts) => parts.join('')),
);
const text = (max: number) => fc.oneof(fc.string({ minLength: 0, maxLength: max + 2 }), anyText);
const id = fc.oneof(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$/), fc.string({ maxLength: 4 }));
const time = fc.oneof(
  fc.date({ min: new Date(0), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom(
    '2026-02-29T00:00:00Z',
    '2024-02-29T23:59:59.123+01:00',
    '2026-11-01',
    '2026-11-01 10:00:00Z',
  ),
);

describe('checkUsageCloudEvent', () => {
  it('agrees with the UsageCloudEvent class on validity and on the fields it names', () => {
    const events = objectsAround({
      specversion: fc.constantFrom('1.0', '0.3'),
      id: text(256),
      source: text(40),
      type: text(40),
      subject: fc.option(text(40), { nil: undefined }),
      time,
      datacontenttype: fc.constantFrom('application/json', 'text/plain'),
      data: fc.dictionary(
        fc.oneof(fc.string(), anyText),
        fc.oneof(fc.jsonValue(), anyText, fc.dictionary(anyText, anyText, { maxKeys: 2 })),
      ),
      tenantid: id,
    });
    fc.assert(
      fc.property(events, (event) => {
        expect(attributesOf(checkUsageCloudEvent(event))).toEqual(
          attributesOf(validateAs(UsageCloudEvent, event)),
        );
      }),
      { numRuns: 2_000 },
    );
  });

  const event = (patch: Record<string, unknown> = {}) => ({
    specversion: '1.0',
    id: 'evt-1',
    source: 'app://checkout',
    type: 'api.call',
    subject: 'user-1',
    time: '2026-11-01T10:00:00Z',
    data: { route: '/x', nested: { list: ['a', 'b'] } },
    ...patch,
  });
  const UNPAIRED = 'must be well-formed Unicode (it has an unpaired surrogate)';

  // Direct Kafka producers and gRPC callers reach only these rules: ClickHouse refuses unpaired
  // surrogates, so an event with one must never be accepted (it would stall the sink).
  it.each([
    ['subject', { subject: 'user\uD800' }, 'subject', UNPAIRED],
    ['source', { source: '\uDC00app' }, 'source', UNPAIRED],
    ['id', { id: 'evt-\uDBFF' }, 'id', UNPAIRED],
    ['type', { type: 'api.call\uDFFF' }, 'type', UNPAIRED],
    ['a data value', { data: { route: '/x\uD83D' } }, 'data.route', UNPAIRED],
    ['a nested data value', { data: { a: { b: ['ok', 'x\uDE00'] } } }, 'data.a.b.1', UNPAIRED],
    ['a data property name', { data: { 'k\uD800': 1 } }, 'data.k\uD800', `its name ${UNPAIRED}`],
    ['subject (NUL)', { subject: 'a\u0000b' }, 'subject', 'must not contain NUL (\\u0000) characters'],
  ])('refuses an unpaired surrogate or NUL in %s, naming the field', (_what, patch, field, reason) => {
    expect(checkUsageCloudEvent(event(patch))).toEqual({ ok: false, errors: [{ field, reasons: [reason] }] });
    expect(attributesOf(validateAs(UsageCloudEvent, event(patch)))).toEqual([field.split('.')[0]]);
  });

  it('refuses the escape of an unpaired surrogate in JSON text, as a Kafka message carries it', () => {
    const value = JSON.parse(JSON.stringify(event()).replace('user-1', 'user\\ud800')) as unknown;
    expect(USAGE_INGEST_TOPIC.check(value)).toEqual({
      ok: false,
      errors: [{ field: 'subject', reasons: [UNPAIRED] }],
    });
  });

  it('accepts surrogate pairs, other planes and control characters', () => {
    const text = '😀 \u{10FFFF} \u0001 \u202E é';
    expect(checkUsageCloudEvent(event({ subject: text, source: text, data: { [text]: text } })).ok).toBe(
      true,
    );
  });
});

describe('checkUsageEventRecord', () => {
  it('agrees with the UsageEventRecord class on validity and on the fields it names', () => {
    const epoch = fc.oneof(fc.nat(), fc.integer({ min: -5, max: -1 }), fc.double());
    const records = objectsAround({
      id: text(256),
      tenantId: id,
      accountId: id,
      source: text(40),
      type: text(40),
      subject: text(40),
      timeMs: epoch,
      data: fc.dictionary(fc.string(), fc.jsonValue()),
      receivedAtMs: epoch,
    });
    fc.assert(
      fc.property(records, (record) => {
        expect(fieldsOf(checkUsageEventRecord(record))).toEqual(
          fieldsOf(validateAs(UsageEventRecord, record)),
        );
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('checkUsageEventBatch', () => {
  const record = (tenantId: string) => ({
    id: 'e-1',
    tenantId,
    source: 'app',
    type: 'api.call',
    timeMs: 1,
    data: {},
    receivedAtMs: 2,
  });

  it('accepts records of the batch tenant', () => {
    expect(checkUsageEventBatch({ tenantId: 't-1', records: [record('t-1')] }).ok).toBe(true);
  });

  it('names a record that belongs to another tenant', () => {
    expect(
      fieldsOf(checkUsageEventBatch({ tenantId: 't-1', records: [record('t-1'), record('t-2')] })),
    ).toEqual(['records.1.tenantId']);
  });

  it('refuses an empty batch', () => {
    expect(fieldsOf(checkUsageEventBatch({ tenantId: 't-1', records: [] }))).toEqual(['records']);
  });
});

describe('isRfc3339', () => {
  it.each(['2026-11-01T10:00:00Z', '2024-02-29T23:59:59.123456789+05:30', '2026-11-01t10:00:00z'])(
    'accepts %s',
    (value) => expect(isRfc3339(value)).toBe(true),
  );

  it.each([
    '2026-11-01',
    '2026-11-01T10:00:00',
    '2026-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2026-11-01T24:00:00Z',
    '2026-11-01T10:00:60Z',
    '2026-13-01T10:00:00Z',
    '2026-11-01T10:00:00+24:00',
    '2026-11-01 10:00:00Z',
  ])('refuses %s', (value) => expect(isRfc3339(value)).toBe(false));

  it('agrees with Date for every instant it accepts', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date(0), max: new Date('9999-12-31'), noInvalidDate: true }), (d) => {
        const iso = d.toISOString();
        expect(isRfc3339(iso)).toBe(true);
        expect(Date.parse(iso)).toBe(d.getTime());
      }),
    );
  });
});
