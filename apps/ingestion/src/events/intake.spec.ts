import { DEFAULT_METERS, MeterCatalog } from '@metering/meters';
import { checkEvents, type IntakeRules } from './intake';

const rules: IntakeRules = {
  catalog: new MeterCatalog(DEFAULT_METERS),
  maxLatenessMs: Number.MAX_SAFE_INTEGER,
  maxFutureMs: Number.MAX_SAFE_INTEGER,
  maxDataChars: 1_000,
};

const tenant = { tenantId: 't-1', accountId: 'a-1' };

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
    const { records, outcomes } = checkEvents([event()], tenant, 1_000, rules);
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
      tenant,
      0,
      rules,
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
    const { records, outcomes } = checkEvents([event(), event()], tenant, 0, rules);
    expect(records).toHaveLength(1);
    expect(outcomes.map((o) => o.status)).toEqual(['accepted', 'duplicate']);
  });

  it('reports a repeated id with a different payload within one request as a conflict', () => {
    const { records, outcomes } = checkEvents([event(), event({ data: { route: '/y' } })], tenant, 0, rules);
    expect(records).toHaveLength(1);
    expect(outcomes[1]).toMatchObject({ status: 'conflict' });
  });

  it('hashes payloads independently of key order', () => {
    const a = checkEvents([event({ data: { x: 1, y: 2 } })], tenant, 0, rules).keys[0].payloadHash;
    const b = checkEvents([event({ data: { y: 2, x: 1 } })], tenant, 0, rules).keys[0].payloadHash;
    expect(a.equals(b)).toBe(true);
  });

  it('rejects events outside the lateness window with a clear reason, and accepts its edges', () => {
    const now = Date.parse('2026-11-22T12:00:00Z');
    const window = { ...rules, maxLatenessMs: 35 * 86_400_000, maxFutureMs: 300_000 };
    const at = (ms: number) => event({ id: `e-${ms}`, time: new Date(ms).toISOString() });
    const { outcomes } = checkEvents(
      [at(now - 35 * 86_400_000), at(now - 35 * 86_400_000 - 1000), at(now + 300_000), at(now + 301_000)],
      tenant,
      now,
      window,
    );
    expect(outcomes.map((o) => o.status)).toEqual(['accepted', 'rejected', 'accepted', 'rejected']);
    expect(outcomes[1]).toMatchObject({
      reasons: ['time: older than the lateness window (35 days before receipt)'],
    });
    expect(outcomes[3]).toMatchObject({ reasons: ['time: more than 300 s in the future'] });
  });

  it('treats the same id from another source as a different event', () => {
    const { records } = checkEvents([event(), event({ source: 'app://b' })], tenant, 0, rules);
    expect(records).toHaveLength(2);
  });

  it('takes the tenant from the API key and rejects an event naming another tenant', () => {
    const { records, outcomes } = checkEvents(
      [event({ tenantid: undefined }), event({ id: 'e-2', tenantid: 't-2' })],
      tenant,
      0,
      rules,
    );
    expect(records).toEqual([expect.objectContaining({ tenantId: 't-1', accountId: 'a-1' })]);
    expect(outcomes[1]).toMatchObject({ status: 'rejected', reasons: [expect.stringMatching(/^tenantid:/)] });
  });

  it('rejects an event type no meter counts', () => {
    const { outcomes } = checkEvents([event({ type: 'api.calls' })], tenant, 0, rules);
    expect(outcomes[0]).toMatchObject({
      status: 'rejected',
      reasons: ['type: no meter counts events of type "api.calls"'],
    });
  });

  it('applies the meter rules: a finite value where the meter reads one', () => {
    const voice = (minutes: unknown) =>
      event({ id: `v-${String(minutes)}`, type: 'call.voice.completed', data: { minutes } });
    const { outcomes } = checkEvents([voice(3), voice('3'), voice(-1)], tenant, 0, rules);
    expect(outcomes.map((o) => o.status)).toEqual(['accepted', 'rejected', 'accepted']);
  });

  it('names every problem of an event at once', () => {
    const { outcomes } = checkEvents(
      [event({ type: 'user.active', tenantid: 't-9', data: { blob: 'x'.repeat(2_000) } })],
      tenant,
      0,
      rules,
    );
    expect(outcomes[0]).toMatchObject({
      status: 'rejected',
      reasons: [
        'tenantid: does not match the tenant of the credentials',
        'data: larger than 1000 characters of JSON',
        'subject: required by meter mau (unique count of subjects)',
      ],
    });
  });
});
