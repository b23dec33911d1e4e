import { RegistryError, RegistryErrorCode } from './errors';

export const ACCOUNT_STATUSES = ['active', 'suspended', 'closed'] as const;
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];

export interface AccountSettings {
  name: string;
  currency: string;
  timezone: string;
  billingAnchorDay: number;
}

export interface AccountState extends AccountSettings {
  exists: boolean;
  status: AccountStatus;
}

export type AccountCommand =
  | { kind: 'create'; settings: AccountSettings }
  | { kind: 'update'; changes: Partial<AccountSettings & { status: AccountStatus }> };

export type AccountEvent =
  | { type: 'account.created'; data: AccountSettings & { status: AccountStatus } }
  | { type: 'account.updated'; data: { changes: Partial<AccountSettings & { status: AccountStatus }> } };

// Currencies by ISO 4217 code as the runtime knows them.
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

export function checkCurrency(currency: string): void {
  if (!CURRENCIES.has(currency)) {
    throw new RegistryError(RegistryErrorCode.INVALID_CURRENCY, `unknown currency ${currency}`, {
      field: 'currency',
    });
  }
}

export function checkTimezone(timezone: string): void {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    throw new RegistryError(RegistryErrorCode.INVALID_TIMEZONE, `unknown time zone ${timezone}`, {
      field: 'timezone',
    });
  }
}

export const initialAccount: AccountState = {
  exists: false,
  name: '',
  currency: '',
  timezone: 'UTC',
  billingAnchorDay: 1,
  status: 'active',
};

export function decideAccount(command: AccountCommand, state: AccountState): AccountEvent[] {
  switch (command.kind) {
    case 'create': {
      if (state.exists) throw new RegistryError(RegistryErrorCode.ACCOUNT_EXISTS, 'account exists');
      checkCurrency(command.settings.currency);
      checkTimezone(command.settings.timezone);
      return [{ type: 'account.created', data: { ...command.settings, status: 'active' } }];
    }
    case 'update': {
      if (!state.exists) throw new RegistryError(RegistryErrorCode.ACCOUNT_NOT_FOUND, 'no such account');
      if (command.changes.currency !== undefined) checkCurrency(command.changes.currency);
      if (command.changes.timezone !== undefined) checkTimezone(command.changes.timezone);
      const changes = Object.fromEntries(
        Object.entries(command.changes).filter(
          ([k, v]) => v !== undefined && state[k as keyof AccountState] !== v,
        ),
      );
      return Object.keys(changes).length ? [{ type: 'account.updated', data: { changes } }] : [];
    }
    default:
      return assertNever(command);
  }
}

export function evolveAccount(state: AccountState, event: AccountEvent): AccountState {
  switch (event.type) {
    case 'account.created':
      return { ...state, ...event.data, exists: true };
    case 'account.updated':
      return { ...state, ...event.data.changes };
    default:
      return assertNever(event);
  }
}

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
