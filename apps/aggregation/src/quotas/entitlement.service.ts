import { Inject, Injectable } from '@nestjs/common';
import { AppError } from '@metering/contracts';
import { formatQuantity, percentOf, reachedThresholds, toQuantity } from '@metering/meters';
import { LOGGER, type Logger } from '@metering/observability';
import { RegistryClient } from '@metering/registry-client';
import { MeterCatalogService } from '../meters/meter-catalog.service';
import type { EntitlementCheckDto } from './entitlement-check.dto';
import { QuotaService, periodOf } from './quota.service';

export type EntitlementReason =
  | 'within_quota'
  | 'overage'
  | 'hard_cap_reached'
  | 'within_limit'
  | 'limit_exceeded'
  | 'not_limited'
  | 'tenant_suspended'
  | 'tenant_deleted';

export interface EntitlementDecision {
  tenantId: string;
  key: string;
  allowed: boolean;
  reason: EntitlementReason;
  /**
   * For meters: the account's pooled usage this period (pooled tenants), or the tenant's own usage
   * of its own plan's period; for limits: the quantity asked for.
   */
  used?: string;
  /** The hard cap, the included quantity or the capability limit the check was made against. */
  allowance?: string;
  /** What is left of `allowance` (never below zero). */
  remaining?: string;
}

/**
 * Entitlement checks for a product's hot path, answered from memory: the tenant (registry
 * cache, dropped on registry events), the plan it draws on — its account's pool, or its own plan
 * when billing bills it apart — and that plan's usage of the current period (refreshed in the
 * background; a pooled tenant is checked against the pool's usage by pooled tenants only). A capability limit reached at 80 % or 100 % is announced
 * once per period, like a pooled quota.
 */
@Injectable()
export class EntitlementService {
  constructor(
    private readonly registry: RegistryClient,
    private readonly quotas: QuotaService,
    private readonly meters: MeterCatalogService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async check(
    input: EntitlementCheckDto,
    callerAccount: string | null | undefined,
  ): Promise<EntitlementDecision> {
    const tenant = await this.registry.getTenant(input.tenantId);
    if (!tenant || (callerAccount && tenant.accountId !== callerAccount)) {
      throw new AppError('not_found', 'tenant_not_found', `no tenant ${input.tenantId}`);
    }
    const base = { tenantId: tenant.id, key: input.key };
    if (tenant.status === 'suspended') return { ...base, allowed: false, reason: 'tenant_suspended' };
    if (tenant.status !== 'active') return { ...base, allowed: false, reason: 'tenant_deleted' };

    const own = await this.quotas.ownPlanOf(tenant.id, tenant.accountId);
    const plan = own ? own.plan : await this.quotas.planOf(tenant.accountId);
    const allowance = plan?.meters.find((m) => m.meterKey === input.key);
    if (allowance) {
      const quotas = own
        ? await this.quotas.currentTenant(tenant.id, tenant.accountId)
        : await this.quotas.current(tenant.accountId);
      const used = toQuantity(quotas?.meters.find((m) => m.meter === input.key)?.used ?? '0');
      const wanted = toQuantity(input.quantity ?? 1);
      const included = toQuantity(allowance.included);
      const cap = allowance.hardCap === undefined ? undefined : toQuantity(allowance.hardCap);
      const ceiling = cap ?? included;
      const reason: EntitlementReason =
        cap !== undefined && used + wanted > cap
          ? 'hard_cap_reached'
          : used + wanted > included
            ? 'overage'
            : 'within_quota';
      return {
        ...base,
        allowed: reason !== 'hard_cap_reached',
        reason,
        used: formatQuantity(used),
        allowance: formatQuantity(ceiling),
        remaining: formatQuantity(ceiling > used ? ceiling - used : 0n),
      };
    }

    // Own keys only: `constructor` or `__proto__` is no limit of the tenant.
    const limit = Object.hasOwn(tenant.limits, input.key) ? tenant.limits[input.key] : undefined;
    if (limit !== undefined) {
      const wanted = toQuantity(input.quantity ?? 1);
      const allowed = toQuantity(limit);
      this.announceLimit(tenant.accountId, tenant.id, input.key, wanted, allowed);
      return {
        ...base,
        allowed: wanted <= allowed,
        reason: wanted <= allowed ? 'within_limit' : 'limit_exceeded',
        used: formatQuantity(wanted),
        allowance: String(limit),
        remaining: formatQuantity(allowed > wanted ? allowed - wanted : 0n),
      };
    }

    if (await this.meters.find(input.key)) {
      return { ...base, allowed: true, reason: 'not_limited' };
    }
    throw new AppError(
      'invalid',
      'unknown_entitlement',
      `${input.key} is neither a meter nor a limit of the tenant`,
      {
        field: 'key',
      },
    );
  }

  /** A capability limit reached by what a tenant asks for is a crossing too (off the hot path). */
  private announceLimit(
    accountId: string,
    tenantId: string,
    key: string,
    wanted: bigint,
    limit: bigint,
  ): void {
    const thresholds = reachedThresholds(wanted, limit);
    if (!thresholds.length) return;
    void (async () => {
      const plan = await this.quotas.planOf(accountId);
      const period = periodOf(plan ?? { anchorDay: 1, timezone: 'UTC' }, Date.now());
      await this.quotas.announce(
        accountId,
        period,
        thresholds.map((threshold) => ({
          scope: 'tenant-limit' as const,
          key,
          tenantId,
          threshold,
          used: formatQuantity(wanted),
          allowance: formatQuantity(limit),
          percent: percentOf(wanted, limit),
        })),
      );
    })().catch((err: unknown) =>
      this.logger.warn({ err, accountId, tenantId, key }, 'limit crossing not announced'),
    );
  }
}
