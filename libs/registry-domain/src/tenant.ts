import { assertNever } from './account';
import { RegistryError, RegistryErrorCode } from './errors';
import { validateLimits, type Limits } from './limits';

export const TENANT_STATUSES = ['active', 'suspended', 'deleted', 'purged'] as const;
export type TenantStatus = (typeof TENANT_STATUSES)[number];
export const DEPLOYMENT_MODELS = ['dedicated', 'resource-shared', 'multi-tenant'] as const;
export const HOSTING_MODES = ['provider', 'byoa', 'platform'] as const;

export interface Placement {
  deploymentModel: (typeof DEPLOYMENT_MODELS)[number];
  hosting: (typeof HOSTING_MODES)[number];
  cell?: string;
}

export interface TenantProfile {
  companyName?: string;
  companyWebsite?: string;
  adminContact?: { name?: string; email?: string; phone?: string };
  domain?: string;
  branding?: { logoUrl?: string; primaryColor?: string };
}

export type Features = Record<string, boolean>;

export interface TenantSpec {
  name: string;
  profile: TenantProfile;
  placement: Placement;
  limits: Limits;
  features: Features;
  templateId?: string;
  retentionDays: number;
}

export interface TenantState extends TenantSpec {
  exists: boolean;
  status: TenantStatus;
  deletedAt?: string;
  purgeAfter?: string;
}

export type TenantCommand =
  | { kind: 'create'; spec: TenantSpec }
  | { kind: 'update'; changes: Partial<Pick<TenantSpec, 'name' | 'profile' | 'placement' | 'retentionDays'>> }
  | { kind: 'set-limits'; limits: Record<string, unknown> }
  | { kind: 'set-features'; features: Features }
  | { kind: 'suspend'; reason?: string }
  | { kind: 'resume' }
  | { kind: 'delete'; at: string }
  | { kind: 'purge'; at: string };

export type TenantEvent =
  | { type: 'tenant.created'; data: TenantSpec }
  | { type: 'tenant.updated'; data: { changes: Partial<TenantSpec> } }
  | { type: 'tenant.limits_changed'; data: { limits: Limits; previous: Limits } }
  | { type: 'tenant.features_changed'; data: { features: Features; previous: Features } }
  | { type: 'tenant.suspended'; data: { reason?: string } }
  | { type: 'tenant.resumed'; data: Record<string, never> }
  | { type: 'tenant.deleted'; data: { deletedAt: string; purgeAfter: string } }
  | { type: 'tenant.purged'; data: { purgedAt: string } };

export const initialTenant: TenantState = {
  exists: false,
  status: 'active',
  name: '',
  profile: {},
  placement: { deploymentModel: 'multi-tenant', hosting: 'platform' },
  limits: {},
  features: {},
  retentionDays: 30,
};

const DAY_MS = 86_400_000;

function writable(state: TenantState): void {
  if (!state.exists) throw new RegistryError(RegistryErrorCode.TENANT_NOT_FOUND, 'no such tenant');
  if (state.status === 'deleted' || state.status === 'purged') {
    throw new RegistryError(RegistryErrorCode.TENANT_DELETED, 'the tenant is deleted');
  }
}

function invalid(message: string, status: TenantStatus): never {
  throw new RegistryError(RegistryErrorCode.INVALID_TRANSITION, message, { status });
}

/** Tenant aggregate: which events a command produces in the current state (pure). */
export function decideTenant(command: TenantCommand, state: TenantState): TenantEvent[] {
  switch (command.kind) {
    case 'create':
      if (state.exists) throw new RegistryError(RegistryErrorCode.TENANT_EXISTS, 'tenant exists');
      return [
        { type: 'tenant.created', data: { ...command.spec, limits: validateLimits(command.spec.limits) } },
      ];
    case 'update': {
      writable(state);
      const changes = Object.fromEntries(
        Object.entries(command.changes).filter(
          ([k, v]) => v !== undefined && JSON.stringify(state[k as keyof TenantState]) !== JSON.stringify(v),
        ),
      );
      return Object.keys(changes).length ? [{ type: 'tenant.updated', data: { changes } }] : [];
    }
    case 'set-limits': {
      writable(state);
      const limits = validateLimits(command.limits);
      return JSON.stringify(limits) === JSON.stringify(state.limits)
        ? []
        : [{ type: 'tenant.limits_changed', data: { limits, previous: state.limits } }];
    }
    case 'set-features':
      writable(state);
      return JSON.stringify(command.features) === JSON.stringify(state.features)
        ? []
        : [
            {
              type: 'tenant.features_changed',
              data: { features: command.features, previous: state.features },
            },
          ];
    case 'suspend':
      writable(state);
      if (state.status !== 'active') invalid('only an active tenant can be suspended', state.status);
      return [{ type: 'tenant.suspended', data: command.reason ? { reason: command.reason } : {} }];
    case 'resume':
      writable(state);
      if (state.status !== 'suspended') invalid('only a suspended tenant can be resumed', state.status);
      return [{ type: 'tenant.resumed', data: {} }];
    case 'delete': {
      writable(state);
      const purgeAfter = new Date(Date.parse(command.at) + state.retentionDays * DAY_MS).toISOString();
      return [{ type: 'tenant.deleted', data: { deletedAt: command.at, purgeAfter } }];
    }
    case 'purge':
      if (!state.exists) throw new RegistryError(RegistryErrorCode.TENANT_NOT_FOUND, 'no such tenant');
      if (state.status !== 'deleted') invalid('only a deleted tenant can be purged', state.status);
      if (Date.parse(command.at) < Date.parse(state.purgeAfter!))
        invalid('retention has not ended', state.status);
      return [{ type: 'tenant.purged', data: { purgedAt: command.at } }];
    default:
      return assertNever(command);
  }
}

export function evolveTenant(state: TenantState, event: TenantEvent): TenantState {
  switch (event.type) {
    case 'tenant.created':
      return { ...state, ...event.data, exists: true, status: 'active' };
    case 'tenant.updated':
      return { ...state, ...event.data.changes };
    case 'tenant.limits_changed':
      return { ...state, limits: event.data.limits };
    case 'tenant.features_changed':
      return { ...state, features: event.data.features };
    case 'tenant.suspended':
      return { ...state, status: 'suspended' };
    case 'tenant.resumed':
      return { ...state, status: 'active' };
    case 'tenant.deleted':
      return {
        ...state,
        status: 'deleted',
        deletedAt: event.data.deletedAt,
        purgeAfter: event.data.purgeAfter,
      };
    case 'tenant.purged':
      return { ...state, status: 'purged' };
    default:
      return assertNever(event);
  }
}
