import { checkEvents } from './intake';

const event = (patch: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  id: 'e-1',
  source: 'app://a',
  type: 'api.call',
  time: '2026-11-01T10:00:00Z',
  tenantid: 't-1',
  data: {},
  ...patch,
});

describe(checkEvents.name, () => {
  it('turns a valid event into a record with its tenant and epoch time', () => {
    const { records, outcomes } = checkEvents([event()], 1_000);
    expect(outcomes).toEqual([{ index: 0, id: 'e-1', status: 'accepted' }]);
    expect(records).toEqual([
      expect.objectContaining({
        id: 'e-1',
        tenantId: 't-1',
        timeMs: Date.parse('2026-11-01T10:00:00Z'),
        receivedAtMs: 1_000,
      }),
    ]);
  });

  it('accepts the valid events of a batch and names the invalid ones', () => {
    const { records, outcomes } = checkEvents(
      [event({ id: 'ok' }), event({ id: 'bad', time: 'soon' }), 'junk'],
      0,
    );
    expect(records.map((r) => r.id)).toEqual(['ok']);
    expect(outcomes[1]).toEqual({
      index: 1,
      id: 'bad',
      status: 'rejected',
      reasons: [expect.stringMatching(/^time:/)],
    });
    expect(outcomes[2]).toMatchObject({ index: 2, id: null, status: 'rejected' });
  });

  it('reports a repeated id within one request as a duplicate, counted once', () => {
    const { records, outcomes } = checkEvents([event(), event()], 0);
    expect(records).toHaveLength(1);
    expect(outcomes.map((o) => o.status)).toEqual(['accepted', 'duplicate']);
  });

  it('treats the same id from another source as a different event', () => {
    const { records } = checkEvents([event(), event({ source: 'app://b' })], 0);
    expect(records).toHaveLength(2);
  });

  it('rejects an event without a tenant', () => {
    const { outcomes } = checkEvents([event({ tenantid: undefined })], 0);
    expect(outcomes[0]).toMatchObject({ status: 'rejected', reasons: ['tenantid: required'] });
  });
});
