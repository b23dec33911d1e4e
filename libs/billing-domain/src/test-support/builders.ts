import type { BillingPeriod } from '@metering/billing-math';
import { UNIT, type Quantity } from '@metering/meters';
import type { InvoiceDraft, MeterPeriodUsage, PricedPhase } from '../invoice';
import type { Invoice } from '../invoice-view';
import type { PlanMeter, PlanVersionSpec } from '../plan';

export const units = (n: bigint | number): Quantity => BigInt(n) * UNIT;

export const APRIL: BillingPeriod = {
  startMs: Date.UTC(2026, 3, 1),
  endMs: Date.UTC(2026, 4, 1),
  startDate: '2026-04-01',
  endDate: '2026-05-01',
};

export function planSpec(patch: Partial<PlanVersionSpec> = {}): PlanVersionSpec {
  return {
    currency: 'USD',
    interval: 'month',
    baseFee: '30.00',
    meters: [apiCalls()],
    tenantLimits: { maxAgents: 10 },
    gracePeriodHours: 72,
    ...patch,
  };
}

export function apiCalls(patch: Partial<PlanMeter> = {}): PlanMeter {
  return {
    meterKey: 'api_calls',
    included: '1000',
    overage: { type: 'PER_UNIT', unitPrice: '0.01' },
    ...patch,
  };
}

export function wholePeriod(
  spec: PlanVersionSpec,
  period: BillingPeriod = APRIL,
  planId = 'plan_a',
  planVersion = 1,
): PricedPhase {
  return {
    planId,
    planVersion,
    effectiveFromMs: period.startMs,
    fromMs: period.startMs,
    toMs: period.endMs,
    spec,
  };
}

export function usageOf(meterKey: string, parts: Record<string, Quantity>): MeterPeriodUsage {
  const tenants = Object.entries(parts).map(([tenantId, contribution]) => ({ tenantId, contribution }));
  return { meterKey, pooled: tenants.reduce((s, t) => s + t.contribution, 0n), tenants };
}

/** A stored invoice of April for a draft (id `inv_1`, account `acc_1`). */
export function storedInvoice(draft: InvoiceDraft, patch: Partial<Invoice> = {}): Invoice {
  return {
    ...draft,
    id: 'inv_1',
    accountId: 'acc_1',
    subscriptionId: 'sub_1',
    tenantId: null,
    periodStartMs: APRIL.startMs,
    periodEndMs: APRIL.endMs,
    periodStartDate: APRIL.startDate,
    periodEndDate: APRIL.endDate,
    status: 'draft',
    graceUntilMs: APRIL.endMs,
    version: 1,
    createdAt: '',
    updatedAt: '',
    finalizedAt: null,
    voidedAt: null,
    voidReason: null,
    ...patch,
  };
}
