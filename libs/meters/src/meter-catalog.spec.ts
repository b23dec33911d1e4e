import { DEFAULT_METERS } from './default-meters';
import { MeterCatalog, readPath } from './meter-catalog';
import { toMeter } from './meter';

const catalog = new MeterCatalog(DEFAULT_METERS);

describe(MeterCatalog.name, () => {
  it('meters an event whose type a meter counts', () => {
    expect(catalog.problems({ type: 'api.call', data: {} })).toEqual([]);
  });

  it('refuses an event type no meter counts', () => {
    expect(catalog.problems({ type: 'api.cal', data: {} })).toEqual([
      'type: no meter counts events of type "api.cal"',
    ]);
  });

  it.each([
    ['missing', {}],
    ['a string', { minutes: '3' }],
    ['null', { minutes: null }],
    ['Infinity (1e309 parses to it)', { minutes: JSON.parse('1e309') as number }],
    ['NaN', { minutes: NaN }],
  ])('refuses a value that is %s', (_what, data) => {
    expect(catalog.problems({ type: 'call.voice.completed', data })).toEqual([
      'data.minutes: must be a finite number for meter voice_minutes',
    ]);
  });

  it('takes a negative value as a correction where the meter allows it', () => {
    expect(catalog.problems({ type: 'call.voice.completed', data: { minutes: -2.5 } })).toEqual([]);
  });

  it('refuses a negative value where the meter takes no corrections', () => {
    expect(catalog.problems({ type: 'storage.sampled', data: { mb: -1 } })).toEqual([
      'data.mb: must not be negative for meter storage_mb (it takes no corrections)',
    ]);
  });

  it('requires a subject for unique-count meters', () => {
    expect(catalog.problems({ type: 'user.active', data: {} })).toEqual([
      'subject: required by meter mau (unique count of subjects)',
    ]);
    expect(catalog.problems({ type: 'user.active', subject: 'u-1', data: {} })).toEqual([]);
  });

  it('checks every meter that counts the same event type', () => {
    const shared = new MeterCatalog([
      toMeter({ key: 'calls', eventType: 'call.done', aggregation: 'COUNT' }),
      toMeter({ key: 'callers', eventType: 'call.done', aggregation: 'UNIQUE_COUNT' }),
      toMeter({ key: 'secs', eventType: 'call.done', aggregation: 'SUM', valueProperty: 'call.seconds' }),
    ]);
    expect(shared.problems({ type: 'call.done', subject: 'u', data: { call: { seconds: 3 } } })).toEqual([]);
    expect(shared.problems({ type: 'call.done', data: { call: {} } })).toEqual([
      'subject: required by meter callers (unique count of subjects)',
      'data.call.seconds: must be a finite number for meter secs',
    ]);
  });
});

describe('readPath', () => {
  it('follows a dot path and stops at anything that is not an object', () => {
    expect(readPath({ a: { b: 2 } }, 'a.b')).toBe(2);
    expect(readPath({ a: [1] }, 'a.0')).toBeUndefined();
    expect(readPath({ a: 1 }, 'a.b')).toBeUndefined();
  });
});
