import { RegistryError, RegistryErrorCode } from './errors';

/** Capability limits a tenant can carry, with what each bounds. */
export const LIMIT_CATALOG: Readonly<Record<string, string>> = {
  maxAgents: 'agents (seats)',
  diskQuotaMb: 'disk quota, MB',
  maxWidgets: 'web widgets',
  maxChannelAccounts: 'connected channel accounts',
  maxWorkflows: 'workflows',
  maxConcurrentAV: 'concurrent audio/video sessions',
  maxCannedMessages: 'canned messages',
  maxAiAgents: 'AI agents',
  datasetMaxFiles: 'files per dataset',
  datasetMaxUrls: 'URLs per dataset',
  extraWorkflowTriggers: 'extra workflow triggers',
};

export type Limits = Record<string, number>;

/** Limits must name catalog keys and be integers ≥ 0; the offending key is named. */
export function validateLimits(limits: Record<string, unknown>): Limits {
  const out: Limits = {};
  for (const [key, value] of Object.entries(limits)) {
    if (!Object.hasOwn(LIMIT_CATALOG, key)) {
      throw new RegistryError(RegistryErrorCode.UNKNOWN_LIMIT, `unknown limit ${key}`, {
        field: `limits.${key}`,
      });
    }
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new RegistryError(RegistryErrorCode.INVALID_LIMIT, `limit ${key} must be an integer ≥ 0`, {
        field: `limits.${key}`,
      });
    }
    out[key] = value;
  }
  return out;
}
