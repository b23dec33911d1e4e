import { WEBHOOK_ENDPOINT_EVENTS, type WebhookEndpointDisabledData } from '@metering/contracts';
import { WebhookError, WebhookErrorCode, invalidField } from './errors';
import { eventTypeProblems } from './event-types';

export type EndpointStatus = 'enabled' | 'disabled';

/** A webhook endpoint as its lifecycle sees it (its secret and delivery log live elsewhere). */
export interface EndpointState {
  id: string;
  status: EndpointStatus | 'none' | 'deleted';
  url: string;
  eventTypes: readonly string[];
  description: string;
  /** Failed attempts in a row, and since when; reset by any success. */
  consecutiveFailures: number;
  failingSince: string | null;
  lastError: string | null;
}

export const newEndpointState = (id: string): EndpointState => ({
  id,
  status: 'none',
  url: '',
  eventTypes: [],
  description: '',
  consecutiveFailures: 0,
  failingSince: null,
  lastError: null,
});

export type EndpointCommand =
  | { type: 'create'; url: string; eventTypes: string[]; description: string }
  | { type: 'update'; eventTypes?: string[]; description?: string; enabled?: boolean }
  /** Its failing streak met the disable policy (see `shouldDisable`). */
  | { type: 'disable-failing' }
  | { type: 'delete' };

type EndpointChanges = { eventTypes?: string[]; description?: string };

export type EndpointEvent =
  | {
      type: typeof WEBHOOK_ENDPOINT_EVENTS.created;
      data: { endpointId: string; url: string; eventTypes: string[]; description: string };
    }
  | { type: typeof WEBHOOK_ENDPOINT_EVENTS.updated; data: { endpointId: string; changes: EndpointChanges } }
  | { type: typeof WEBHOOK_ENDPOINT_EVENTS.enabled; data: { endpointId: string } }
  | { type: typeof WEBHOOK_ENDPOINT_EVENTS.disabled; data: WebhookEndpointDisabledData }
  | { type: typeof WEBHOOK_ENDPOINT_EVENTS.deleted; data: { endpointId: string; url: string } };

function checkEventTypes(eventTypes: readonly string[]): void {
  const problems = eventTypeProblems(eventTypes);
  if (problems.length) throw invalidField('eventTypes', problems);
}

function disabled(state: EndpointState, reason: WebhookEndpointDisabledData['reason']): EndpointEvent {
  return {
    type: WEBHOOK_ENDPOINT_EVENTS.disabled,
    data: {
      endpointId: state.id,
      url: state.url,
      reason,
      consecutiveFailures: state.consecutiveFailures,
      ...(state.failingSince ? { failingSince: state.failingSince } : {}),
      ...(state.lastError ? { lastError: state.lastError } : {}),
    },
  };
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((value, i) => value === b[i]);

/** The endpoint lifecycle as a decider: commands become events, events fold into the state. */
export const endpointDecider = {
  decide(command: EndpointCommand, state: EndpointState): EndpointEvent[] {
    if (command.type === 'create') {
      if (state.status !== 'none')
        throw new WebhookError(WebhookErrorCode.ENDPOINT_EXISTS, `endpoint ${state.id} exists`);
      checkEventTypes(command.eventTypes);
      return [
        {
          type: WEBHOOK_ENDPOINT_EVENTS.created,
          data: {
            endpointId: state.id,
            url: command.url,
            eventTypes: command.eventTypes,
            description: command.description,
          },
        },
      ];
    }
    if (state.status === 'none' || state.status === 'deleted')
      throw new WebhookError(WebhookErrorCode.ENDPOINT_NOT_FOUND, `no webhook endpoint ${state.id}`);
    switch (command.type) {
      case 'update': {
        const changes: EndpointChanges = {};
        if (command.eventTypes && !sameList(command.eventTypes, state.eventTypes)) {
          checkEventTypes(command.eventTypes);
          changes.eventTypes = command.eventTypes;
        }
        if (command.description !== undefined && command.description !== state.description)
          changes.description = command.description;
        const events: EndpointEvent[] = Object.keys(changes).length
          ? [{ type: WEBHOOK_ENDPOINT_EVENTS.updated, data: { endpointId: state.id, changes } }]
          : [];
        if (command.enabled === true && state.status === 'disabled')
          events.push({ type: WEBHOOK_ENDPOINT_EVENTS.enabled, data: { endpointId: state.id } });
        if (command.enabled === false && state.status === 'enabled') events.push(disabled(state, 'manual'));
        return events;
      }
      case 'disable-failing':
        return state.status === 'enabled' ? [disabled(state, 'failing')] : [];
      case 'delete':
        return [{ type: WEBHOOK_ENDPOINT_EVENTS.deleted, data: { endpointId: state.id, url: state.url } }];
      default: {
        const unknown: never = command;
        throw new Error(`unknown command ${JSON.stringify(unknown)}`);
      }
    }
  },

  evolve(state: EndpointState, event: EndpointEvent): EndpointState {
    switch (event.type) {
      case WEBHOOK_ENDPOINT_EVENTS.created:
        return {
          ...state,
          status: 'enabled',
          url: event.data.url,
          eventTypes: event.data.eventTypes,
          description: event.data.description,
        };
      case WEBHOOK_ENDPOINT_EVENTS.updated:
        return { ...state, ...event.data.changes };
      // A re-enabled endpoint starts with a clean record: its next failure starts a new streak.
      case WEBHOOK_ENDPOINT_EVENTS.enabled:
        return { ...state, status: 'enabled', consecutiveFailures: 0, failingSince: null, lastError: null };
      case WEBHOOK_ENDPOINT_EVENTS.disabled:
        return { ...state, status: 'disabled' };
      case WEBHOOK_ENDPOINT_EVENTS.deleted:
        return { ...state, status: 'deleted' };
      default: {
        const unknown: never = event;
        throw new Error(`unknown event ${JSON.stringify(unknown)}`);
      }
    }
  },
};
