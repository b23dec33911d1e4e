import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { DomainEventEnvelope } from '@metering/contracts';
import {
  EMPTY_HEAD,
  canonicalEntry,
  chainAfter,
  draftOf,
  entryHash,
  sameEvent,
  type AuditDraft,
  type ChainedEntry,
} from './audit-entry';
import { canonicalJson } from './canonical-json';
import { ChainVerifier } from './chain-verifier';

/** Any JSON object, as event data. */
const data = fc.dictionary(fc.string(), fc.jsonValue());

const draftArb: fc.Arbitrary<AuditDraft> = fc.record({
  eventId: fc.uuid(),
  time: fc
    .date({ min: new Date(0), max: new Date(Date.UTC(9999, 0)), noInvalidDate: true })
    .map((d) => d.toISOString()),
  recordedAt: fc.constant(new Date().toISOString()),
  accountId: fc.constant('acc_1'),
  tenantId: fc.option(fc.string({ minLength: 1 }), { nil: null }),
  actor: fc.record({
    type: fc.constantFrom('management-key', 'api-key', 'service', 'system' as const),
    id: fc.string({ minLength: 1 }),
  }),
  action: fc.constantFrom('tenant.created', 'tenant.suspended', 'api_key.revoked'),
  target: fc.record({ type: fc.constant('tenant'), id: fc.string({ minLength: 1 }), version: fc.nat() }),
  changeJson: data.map(canonicalJson),
  source: fc.constant('tenant-registry'),
  correlationId: fc.option(fc.uuid(), { nil: null }),
});

const verify = (entries: ChainedEntry[], head = entries.at(-1)) => {
  const verifier = new ChainVerifier('acc_1');
  for (const e of entries) if (!verifier.push(e)) break;
  return verifier.finish(head ? { seq: head.seq, hash: head.hash } : EMPTY_HEAD);
};

function envelope(patch: Partial<DomainEventEnvelope> = {}): DomainEventEnvelope {
  return {
    eventId: randomUUID(),
    type: 'tenant.suspended',
    schemaVersion: 1,
    occurredAt: '2026-03-01T10:00:00.123456+02:00',
    accountId: 'acc_1',
    tenantId: 'ten_1',
    aggregateType: 'tenant',
    aggregateId: 'ten_1',
    aggregateVersion: 3,
    actor: { type: 'management-key', id: 'mk_abc' },
    source: 'tenant-registry',
    correlationId: 'corr-1',
    data: { reason: 'unpaid', nested: { b: 1, a: [2, 1] } },
    ...patch,
  };
}

describe(canonicalJson.name, () => {
  it('gives the same text whatever the key order', () => {
    fc.assert(
      fc.property(data, (value) => {
        const reversed = Object.fromEntries(Object.entries(value).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(value));
      }),
    );
  });

  it('is JSON that parses back to text it reproduces exactly', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
    );
  });

  it('sorts keys and leaves out whitespace', () => {
    expect(canonicalJson({ b: [1, { d: true, c: null }], a: 'x' })).toBe(
      '{"a":"x","b":[1,{"c":null,"d":true}]}',
    );
  });
});

describe(canonicalEntry.name, () => {
  it('equals canonical JSON of the entry with its change parsed', () => {
    fc.assert(
      fc.property(draftArb, (draft) => {
        const [entry] = chainAfter(EMPTY_HEAD, [draft]);
        const { hash: _hash, changeJson, ...rest } = entry;
        expect(canonicalEntry(entry)).toBe(canonicalJson({ ...rest, change: JSON.parse(changeJson), v: 1 }));
      }),
    );
  });
});

describe(chainAfter.name, () => {
  it('links every entry to the one before, starting from the genesis hash', () => {
    const entries = chainAfter(EMPTY_HEAD, fc.sample(draftArb, 5));
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(entries[0].prevHash).toBe('0'.repeat(64));
    for (let i = 1; i < entries.length; i++) expect(entries[i].prevHash).toBe(entries[i - 1].hash);
    for (const e of entries) expect(entryHash(e)).toBe(e.hash);
  });

  it('continues an existing chain from its head', () => {
    const first = chainAfter(EMPTY_HEAD, fc.sample(draftArb, 3));
    const more = chainAfter(first[2], fc.sample(draftArb, 2));
    expect(verify([...first, ...more])).toMatchObject({ ok: true, entries: 5, head: { seq: 5 } });
  });
});

describe(ChainVerifier.name, () => {
  const tamperings: [string, (e: ChainedEntry) => ChainedEntry][] = [
    ['change', (e) => ({ ...e, changeJson: canonicalJson({ forged: true }) })],
    ['actor', (e) => ({ ...e, actor: { ...e.actor, id: `${e.actor.id}x` } })],
    ['time', (e) => ({ ...e, time: new Date(Date.parse(e.time) + 1).toISOString() })],
    ['action', (e) => ({ ...e, action: 'tenant.deleted' })],
    ['tenant', (e) => ({ ...e, tenantId: e.tenantId === null ? 't' : null })],
    ['hash', (e) => ({ ...e, hash: 'f'.repeat(64) })],
    ['prevHash', (e) => ({ ...e, prevHash: 'f'.repeat(64) })],
  ];

  it('accepts any untouched chain', () => {
    fc.assert(
      fc.property(fc.array(draftArb, { maxLength: 20 }), (drafts) => {
        expect(verify(chainAfter(EMPTY_HEAD, drafts)).ok).toBe(true);
      }),
    );
  });

  it('names the entry whose content was changed, whichever field and entry', () => {
    fc.assert(
      fc.property(
        fc.array(draftArb, { minLength: 1, maxLength: 12 }),
        fc.nat(),
        fc.constantFrom(...tamperings),
        (drafts, at, [, tamper]) => {
          const entries = chainAfter(EMPTY_HEAD, drafts);
          const k = at % entries.length;
          entries[k] = tamper(entries[k]);
          const result = verify(entries, chainAfter(EMPTY_HEAD, drafts).at(-1));
          expect(result).toMatchObject({ ok: false, firstBroken: { seq: k + 1 } });
        },
      ),
    );
  });

  it('names the missing position when an entry was removed', () => {
    const entries = chainAfter(EMPTY_HEAD, fc.sample(draftArb, 6));
    const result = verify([...entries.slice(0, 2), ...entries.slice(3)]);
    expect(result).toMatchObject({ ok: false, firstBroken: { seq: 3, reason: 'seq_gap' } });
  });

  it('detects entries cut off the end through the recorded head', () => {
    const entries = chainAfter(EMPTY_HEAD, fc.sample(draftArb, 4));
    const result = verify(entries.slice(0, 2), entries[3]);
    expect(result).toMatchObject({ ok: false, firstBroken: { seq: 3, reason: 'head_mismatch' } });
  });

  it('continues from a retention checkpoint', () => {
    const entries = chainAfter(EMPTY_HEAD, fc.sample(draftArb, 5));
    const verifier = new ChainVerifier('acc_1', entries[1]);
    for (const e of entries.slice(2)) verifier.push(e);
    expect(verifier.finish(entries[4])).toMatchObject({ ok: true, entries: 3 });
  });

  it('checks that an exported head is still part of the chain', () => {
    const drafts = fc.sample(draftArb, 4);
    const entries = chainAfter(EMPTY_HEAD, drafts);
    const check = (chain: ChainedEntry[], anchor: { seq: number; hash: string }) => {
      const verifier = new ChainVerifier('acc_1', EMPTY_HEAD, anchor);
      for (const e of chain) verifier.push(e);
      return verifier.finish(chain.at(-1));
    };
    expect(check(entries, entries[2])).toMatchObject({ ok: true, anchorChecked: true });
    // The whole chain rewritten consistently from entry 2 on: each link holds, the anchor does not.
    const rewritten = [
      ...entries.slice(0, 1),
      ...chainAfter(entries[0], [{ ...drafts[1], action: 'tenant.deleted' }, ...drafts.slice(2)]),
    ];
    expect(verify(rewritten).ok).toBe(true);
    expect(check(rewritten, entries[2])).toMatchObject({
      ok: false,
      firstBroken: { seq: 3, reason: 'anchor_mismatch' },
    });
    expect(check(entries.slice(0, 2), entries[3])).toMatchObject({ ok: false });
  });
});

describe(draftOf.name, () => {
  it('records the event with its time in UTC milliseconds and its data as canonical JSON', () => {
    const event = envelope();
    const draft = draftOf(event, new Date('2026-03-01T08:00:01Z'));
    expect(draft).toEqual({
      eventId: event.eventId,
      time: '2026-03-01T08:00:00.123Z',
      recordedAt: '2026-03-01T08:00:01.000Z',
      accountId: 'acc_1',
      tenantId: 'ten_1',
      actor: { type: 'management-key', id: 'mk_abc' },
      action: 'tenant.suspended',
      target: { type: 'tenant', id: 'ten_1', version: 3 },
      changeJson: '{"nested":{"a":[2,1],"b":1},"reason":"unpaid"}',
      source: 'tenant-registry',
      correlationId: 'corr-1',
    });
  });

  it('tells a redelivery from a different event under the same id', () => {
    const event = envelope();
    const a = draftOf(event, new Date());
    expect(sameEvent(a, draftOf(JSON.parse(JSON.stringify(event)), new Date(0)))).toBe(true);
    expect(sameEvent(a, draftOf({ ...event, data: { reason: 'other' } }, new Date()))).toBe(false);
  });

  it('hashes differently with another key order in nothing', () => {
    const a = draftOf(envelope({ data: { x: 1, y: 2 } }), new Date(0));
    const b = draftOf({ ...envelope({ data: { y: 2, x: 1 } }), eventId: a.eventId }, new Date(0));
    expect(chainAfter(EMPTY_HEAD, [a])[0].hash).toBe(chainAfter(EMPTY_HEAD, [b])[0].hash);
  });

  it('keeps different content apart', () => {
    const id = randomBytes(4).toString('hex');
    const a = draftOf(envelope({ aggregateId: id }), new Date(0));
    const b = draftOf({ ...envelope({ aggregateId: `${id}x` }), eventId: a.eventId }, new Date(0));
    expect(chainAfter(EMPTY_HEAD, [a])[0].hash).not.toBe(chainAfter(EMPTY_HEAD, [b])[0].hash);
  });
});
