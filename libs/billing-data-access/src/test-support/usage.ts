import type { MeterPeriodUsage } from '@metering/billing-domain';
import type { PoolMeter } from '@metering/billing-math';
import { UNIT } from '@metering/meters';
import type { PeriodUsageSource } from '../billing-run';

/** Pooled `api_calls` of a period: whole calls per tenant. */
export const apiCalls = (parts: Record<string, bigint>): MeterPeriodUsage[] => {
  const tenants = Object.entries(parts).map(([tenantId, n]) => ({ tenantId, contribution: n * UNIT }));
  return [{ meterKey: 'api_calls', pooled: tenants.reduce((s, t) => s + t.contribution, 0n), tenants }];
};

/** A usage event as aggregation counts it: `quantity` whole units of a SUM meter at `atMs`. */
export interface UsageEvent {
  accountId: string;
  tenantId: string;
  meterKey: string;
  atMs: number;
  quantity: bigint;
}

type UsageRequest = Parameters<PeriodUsageSource['periodUsage']>[0];

/** The catalog of a test whose meters all add up (SUM). */
export const summedMeters = (): Promise<PoolMeter[]> =>
  Promise.resolve(
    ['api_calls', 'voice_minutes'].map((key) => ({ key, aggregation: 'SUM', pooling: 'sum-of-tenants' })),
  );

/**
 * Aggregation's `GetPeriodUsage` over recorded events: every asked meter pooled over `[fromMs, toMs)`
 * (an event exactly at `toMs` belongs to the next period, as in aggregation) and over the asked
 * tenants, tenants by id. Keeps the requests it answered.
 */
export class EventUsage implements PeriodUsageSource {
  readonly events: UsageEvent[] = [];
  readonly requests: UsageRequest[] = [];

  record(event: UsageEvent): void {
    this.events.push(event);
  }

  periodUsage(request: UsageRequest): Promise<MeterPeriodUsage[]> {
    this.requests.push(request);
    const inRange = this.events.filter(
      (e) =>
        e.accountId === request.accountId &&
        e.atMs >= request.fromMs &&
        e.atMs < request.toMs &&
        (!request.tenantIds || request.tenantIds.includes(e.tenantId)),
    );
    return Promise.resolve(
      request.meterKeys.map((meterKey) => {
        const byTenant = new Map<string, { total: bigint; events: number }>();
        for (const e of inRange.filter((x) => x.meterKey === meterKey)) {
          const known = byTenant.get(e.tenantId) ?? { total: 0n, events: 0 };
          byTenant.set(e.tenantId, { total: known.total + e.quantity * UNIT, events: known.events + 1 });
        }
        const tenants = [...byTenant]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([tenantId, { total, events }]) => ({ tenantId, contribution: total, usage: total, events }));
        return { meterKey, pooled: tenants.reduce((s, t) => s + t.contribution, 0n), tenants };
      }),
    );
  }

  meterKinds(): Promise<PoolMeter[]> {
    return summedMeters();
  }
}
