import { EMPTY_HEAD, chainAfter, entryHash } from './audit-entry';
import { CSV_HEADER, csvField, toCsvLine, toNdjsonLine, toView } from './export-format';

const [entry] = chainAfter(EMPTY_HEAD, [
  {
    eventId: '6f1c0a52-8a4e-4a57-9d61-3f2b8e0c1a11',
    time: '2026-01-01T00:00:00.000Z',
    recordedAt: '2026-01-01T00:00:01.000Z',
    accountId: 'acc_1',
    tenantId: null,
    actor: { type: 'management-key', id: 'mk_1' },
    action: 'tenant.updated',
    target: { type: 'tenant', id: 'ten_1', version: 2 },
    changeJson: '{"name":"a, \\"b\\"\\n"}',
    source: 'tenant-registry',
    correlationId: '=cmd()',
  },
]);
const stored = { ...entry, id: '7' };

describe(toNdjsonLine.name, () => {
  it('is the view as one JSON line, from which the hash can be recomputed', () => {
    const line = toNdjsonLine(stored);
    expect(line.endsWith('\n')).toBe(true);
    const parsed = JSON.parse(line);
    expect(parsed).toEqual(toView(stored));
    const { id: _id, change, ...rest } = parsed;
    expect(entryHash({ ...rest, changeJson: JSON.stringify(change) })).toBe(entry.hash);
  });
});

describe(toCsvLine.name, () => {
  it('quotes commas, quotes and newlines and defuses formulas', () => {
    const line = toCsvLine(stored);
    expect(line).toContain(',"{""name"":""a, \\""b\\""\\n""}",');
    expect(line).toContain(",'=cmd(),");
    expect(line.split(',').length).toBeGreaterThanOrEqual(CSV_HEADER.split(',').length);
    expect(csvField(null)).toBe('');
    expect(csvField('a\nb')).toBe('"a\nb"');
  });
});
