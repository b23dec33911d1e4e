import { allocate, type Quantity, type TenantUsage } from '@metering/meters';
import { BillingMathError, BillingMathErrorCode } from './errors';
import type { MinorUnits } from './money';

/** A tenant's sub-line of an invoice line. */
export interface AttributedAmount {
  tenantId: string;
  amount: MinorUnits;
}

/**
 * Splits a line amount across tenants in proportion to their contributions (ARCHITECTURE.md §5):
 * largest remainder with a deterministic tie-break (libs/meters `allocate`), so the sub-lines add
 * up to the line exactly and do not depend on the order tenants are listed in. A negative
 * contribution (net corrections) counts as zero: that tenant caused none of the line. Sorted by
 * tenant id.
 */
export function attributeAmount(
  amount: MinorUnits,
  contributions: readonly Pick<TenantUsage, 'tenantId' | 'contribution'>[],
): AttributedAmount[] {
  const weights = new Map<string, Quantity>();
  for (const { tenantId, contribution } of contributions) {
    if (weights.has(tenantId)) {
      throw new BillingMathError(
        BillingMathErrorCode.INVALID_ATTRIBUTION,
        `tenant ${tenantId} is listed twice`,
      );
    }
    weights.set(tenantId, contribution > 0n ? contribution : 0n);
  }
  const total = [...weights.values()].reduce((a, b) => a + b, 0n);
  if (amount !== 0n && total === 0n) {
    throw new BillingMathError(
      BillingMathErrorCode.INVALID_ATTRIBUTION,
      'a non-zero amount needs at least one tenant with a positive contribution',
    );
  }
  const shares = allocate(
    amount,
    [...weights].map(([key, weight]) => ({ key, weight })),
  );
  return [...shares]
    .map(([tenantId, share]) => ({ tenantId, amount: share }))
    .sort((a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0));
}
