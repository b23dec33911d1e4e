import { AppError } from '@metering/contracts';
import { endpointDecider, newEndpointState, type EndpointCommand, type EndpointState } from './endpoint';

const run = (state: EndpointState, command: EndpointCommand) => {
  const events = endpointDecider.decide(command, state);
  return { events, state: events.reduce(endpointDecider.evolve, state) };
};

const created = () =>
  run(newEndpointState('we_1'), {
    type: 'create',
    url: 'https://hooks.example.com/in',
    eventTypes: ['invoice.*'],
    description: 'finance',
  }).state;

describe('endpointDecider', () => {
  it('creates an enabled endpoint', () => {
    const { events, state } = run(newEndpointState('we_1'), {
      type: 'create',
      url: 'https://hooks.example.com/in',
      eventTypes: ['invoice.*', 'tenant.suspended'],
      description: '',
    });
    expect(events.map((e) => e.type)).toEqual(['webhook_endpoint.created']);
    expect(state).toMatchObject({ status: 'enabled', eventTypes: ['invoice.*', 'tenant.suspended'] });
  });

  it('refuses subscriptions to types it would never deliver, naming the field', () => {
    const attempt = () =>
      endpointDecider.decide(
        { type: 'create', url: 'https://x.example', eventTypes: ['api_key.issued'], description: '' },
        newEndpointState('we_1'),
      );
    expect(attempt).toThrow(AppError);
    try {
      attempt();
    } catch (err) {
      expect((err as AppError).details).toEqual([{ field: 'eventTypes', reasons: [expect.any(String)] }]);
    }
  });

  it('records only what an update changes', () => {
    const endpoint = created();
    expect(
      endpointDecider.decide({ type: 'update', eventTypes: ['invoice.*'], description: 'finance' }, endpoint),
    ).toEqual([]);
    const { events } = run(endpoint, { type: 'update', eventTypes: ['*'], description: 'finance' });
    expect(events).toEqual([
      { type: 'webhook_endpoint.updated', data: { endpointId: 'we_1', changes: { eventTypes: ['*'] } } },
    ]);
  });

  it('disables a failing endpoint once, with its failing streak', () => {
    const failing = {
      ...created(),
      consecutiveFailures: 12,
      failingSince: '2025-10-01T00:00:00.000Z',
      lastError: 'HTTP 503',
    };
    const first = run(failing, { type: 'disable-failing' });
    expect(first.events).toEqual([
      {
        type: 'webhook_endpoint.disabled',
        data: {
          endpointId: 'we_1',
          url: 'https://hooks.example.com/in',
          reason: 'failing',
          consecutiveFailures: 12,
          failingSince: '2025-10-01T00:00:00.000Z',
          lastError: 'HTTP 503',
        },
      },
    ]);
    expect(first.state.status).toBe('disabled');
    expect(run(first.state, { type: 'disable-failing' }).events).toEqual([]);
  });

  it('re-enables with a clean failure record, and disables by hand', () => {
    const disabled = run(
      { ...created(), consecutiveFailures: 3, failingSince: '2025-10-01T00:00:00.000Z' },
      {
        type: 'disable-failing',
      },
    ).state;
    const enabled = run(disabled, { type: 'update', enabled: true });
    expect(enabled.events.map((e) => e.type)).toEqual(['webhook_endpoint.enabled']);
    expect(enabled.state).toMatchObject({ status: 'enabled', consecutiveFailures: 0, failingSince: null });
    const manual = run(enabled.state, { type: 'update', enabled: false });
    expect(manual.events).toEqual([
      expect.objectContaining({
        type: 'webhook_endpoint.disabled',
        data: expect.objectContaining({ reason: 'manual' }),
      }),
    ]);
  });

  it('answers a deleted or unknown endpoint as not found', () => {
    const deleted = run(created(), { type: 'delete' }).state;
    expect(deleted.status).toBe('deleted');
    for (const state of [deleted, newEndpointState('we_2')])
      expect(() => endpointDecider.decide({ type: 'update', enabled: true }, state)).toThrow(
        expect.objectContaining({ code: 'webhook_endpoint_not_found' }),
      );
  });
});
