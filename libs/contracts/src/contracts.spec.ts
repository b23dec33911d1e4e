import { loadSync } from '@grpc/proto-loader';
import { USAGE_EVENTS_TOPIC, allTopicNames } from './topics';
import { PROTO_FILES } from './proto';
import { UsageCloudEvent } from './usage-event';
import { validateAs } from './validation';

const validEvent = () => ({
  specversion: '1.0',
  id: 'evt-1',
  source: 'app://checkout',
  type: 'api.call',
  time: '2026-11-01T10:00:00Z',
  data: { route: '/x' },
});

describe('topics', () => {
  it('carries a version suffix on every topic name', () => {
    for (const name of allTopicNames()) expect(name).toMatch(/\.v\d+$/);
  });

  it('keys usage events by tenant', () => {
    expect(USAGE_EVENTS_TOPIC.keyOf({ tenantId: 't-1' } as never)).toBe('t-1');
  });
});

describe(UsageCloudEvent.name, () => {
  it('accepts a well-formed CloudEvent', () => {
    expect(validateAs(UsageCloudEvent, validEvent()).ok).toBe(true);
  });

  it.each([
    ['specversion', { specversion: '0.3' }],
    ['id', { id: '' }],
    ['time', { time: 'yesterday' }],
    ['data', { data: 'not an object' }],
    ['tenantid', { tenantid: 'bad tenant/id' }],
  ])('names the field %s when it is invalid', (field, patch) => {
    const result = validateAs(UsageCloudEvent, { ...validEvent(), ...patch });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map((e) => e.field)).toContain(field);
  });

  it('refuses a value that is not an object', () => {
    expect(validateAs(UsageCloudEvent, [validEvent()])).toEqual({
      ok: false,
      errors: [{ field: '$', reasons: ['must be a JSON object'] }],
    });
  });
});

describe('gRPC protos', () => {
  it.each(Object.entries(PROTO_FILES))('%s.proto parses', (_name, file) => {
    const definition = loadSync(file, { keepCase: false });
    expect(Object.keys(definition).some((k) => k.startsWith('metering.'))).toBe(true);
  });
});
