import {
  attributeAmount,
  parseMoney,
  prorate,
  rateMeter,
  type BillingPeriod,
  type MeterPrice,
  type RatedLine,
} from '@metering/billing-math';
import { formatQuantity, toQuantity, type Quantity } from '@metering/meters';
import { meterPriceOf, type PlanVersionSpec } from './plan';
import type { PhaseInPeriod } from './subscription';

export const INVOICE_STATUSES = ['draft', 'finalized', 'paid', 'void'] as const;
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];

export type InvoiceLineKind = 'base_fee' | 'usage' | 'adjustment';

/** A meter's pooled usage of a period with each tenant's part (the parts add up to `pooled`). */
export interface MeterPeriodUsage {
  meterKey: string;
  pooled: Quantity;
  /**
   * `usage` (the tenant's own figure, e.g. its peak) and `events`, as aggregation reports them, are
   * needed to pool again over a change of billing mode; without them the part stands for both.
   */
  tenants: { tenantId: string; contribution: Quantity; usage?: Quantity; events?: number }[];
}

/** A tenant's sub-line: its part of the line's quantity and of its amount. */
export interface InvoiceSubLine {
  tenantId: string;
  /** Decimal string: the tenant's contribution (adjustments: its change). */
  quantity: string;
  amount: bigint;
}

export interface InvoiceTier {
  tier: number;
  units: string;
  unitPrice: string;
  packages?: string;
  flatFee: string;
  exactAmount: string;
  amount: bigint;
}

/** One line of an invoice. Quantities are decimal strings, amounts minor units. */
export interface InvoiceLine {
  kind: InvoiceLineKind;
  description: string;
  planId: string;
  planVersion: number;
  /** The part of the period the line covers (the adjusted period for adjustments). */
  fromMs: number;
  toMs: number;
  meterKey?: string;
  pooled?: string;
  included?: string;
  overage?: string;
  billable?: string;
  hardCap?: string;
  tiers?: InvoiceTier[];
  exactAmount?: string;
  amount: bigint;
  /** Per-tenant sub-lines; they add up to `amount` exactly. Empty for base fees. */
  attribution: InvoiceSubLine[];
  /** Adjustments: the finalized invoice they correct and the figures compared. */
  adjusts?: {
    invoiceId: string;
    invoicedPooled: string;
    currentPooled: string;
    invoicedAmount: bigint;
    currentAmount: bigint;
  };
}

/** What an invoice was rated on, kept with it so late usage can be compared after finalization. */
export interface RatedUsage {
  meterKey: string;
  price: MeterPrice;
  pooled: string;
  tenants: { tenantId: string; contribution: string }[];
}

export interface InvoiceDraft {
  currency: string;
  lines: InvoiceLine[];
  total: bigint;
  rated: RatedUsage[];
}

/** A finalized earlier invoice's rated usage next to that period's usage now. */
export interface PriorPeriodUsage {
  invoiceId: string;
  planId: string;
  planVersion: number;
  periodStartMs: number;
  periodEndMs: number;
  rated: RatedUsage[];
  current: MeterPeriodUsage[];
}

export interface PricedPhase extends PhaseInPeriod {
  spec: PlanVersionSpec;
}

export interface InvoiceInput {
  period: Pick<BillingPeriod, 'startMs' | 'endMs'>;
  /** Phases in force during the period, clipped to it, in order (at least one). */
  phases: PricedPhase[];
  /** Pooled usage of the period (from the subscription's start when it started within it). */
  usage: MeterPeriodUsage[];
  /** Finalized earlier periods whose usage may have grown since. */
  prior?: PriorPeriodUsage[];
}

const fromRated = (r: RatedUsage): MeterPeriodUsage => ({
  meterKey: r.meterKey,
  pooled: toQuantity(r.pooled),
  tenants: r.tenants.map((t) => ({ tenantId: t.tenantId, contribution: toQuantity(t.contribution) })),
});

const noUsage = (meterKey: string): MeterPeriodUsage => ({ meterKey, pooled: 0n, tenants: [] });

function subLines(amount: bigint, usage: MeterPeriodUsage): InvoiceSubLine[] {
  const quantities = new Map(usage.tenants.map((t) => [t.tenantId, t.contribution]));
  return attributeAmount(amount, usage.tenants).map((a) => ({
    tenantId: a.tenantId,
    quantity: formatQuantity(quantities.get(a.tenantId) ?? 0n),
    amount: a.amount,
  }));
}

function usageLine(
  phase: PricedPhase,
  price: MeterPrice,
  rated: RatedLine,
  usage: MeterPeriodUsage,
  period: InvoiceInput['period'],
): InvoiceLine {
  return {
    kind: 'usage',
    description: `${price.meterKey}: ${formatQuantity(rated.pooled)} pooled, ${formatQuantity(rated.included)} included`,
    planId: phase.planId,
    planVersion: phase.planVersion,
    fromMs: period.startMs,
    toMs: period.endMs,
    meterKey: price.meterKey,
    pooled: formatQuantity(rated.pooled),
    included: formatQuantity(rated.included),
    overage: formatQuantity(rated.overage),
    billable: formatQuantity(rated.billable),
    ...(price.maxBillableQuantity === undefined ? {} : { hardCap: price.maxBillableQuantity }),
    tiers: rated.tiers.map((t) => ({
      tier: t.tier,
      units: formatQuantity(t.units),
      unitPrice: t.unitPrice,
      ...(t.packages === undefined ? {} : { packages: t.packages.toString() }),
      flatFee: t.flatFee,
      exactAmount: t.exactAmount,
      amount: t.amount,
    })),
    exactAmount: rated.exactAmount,
    amount: rated.amount,
    attribution: subLines(rated.amount, usage),
  };
}

/**
 * The base fee of each phase for its share of the period: `prorate(fee, period, from).after −
 * prorate(fee, period, to).after`, which is the whole fee for a phase covering the period and
 * adds up exactly over phases of equal fees.
 */
function baseFeeLines(input: InvoiceInput, currency: string): InvoiceLine[] {
  const period = { ...input.period, startDate: '', endDate: '' };
  return input.phases.map((phase) => {
    const fee = parseMoney(phase.spec.baseFee, currency);
    const amount = prorate(fee, period, phase.fromMs).after - prorate(fee, period, phase.toMs).after;
    const whole = phase.fromMs === period.startMs && phase.toMs === period.endMs;
    return {
      kind: 'base_fee',
      description: `base fee, plan ${phase.planId} v${phase.planVersion}${whole ? '' : ' (prorated)'}`,
      planId: phase.planId,
      planVersion: phase.planVersion,
      fromMs: phase.fromMs,
      toMs: phase.toMs,
      amount,
      attribution: [],
    };
  });
}

/** Lines for usage of finalized earlier periods that grew since: rate(now) − rate(as invoiced), per meter. */
function adjustmentLines(prior: PriorPeriodUsage, currency: string): InvoiceLine[] {
  const lines: InvoiceLine[] = [];
  for (const rated of prior.rated) {
    const invoiced = fromRated(rated);
    const current = prior.current.find((u) => u.meterKey === rated.meterKey) ?? noUsage(rated.meterKey);
    if (current.pooled === invoiced.pooled) continue;
    const before = rateMeter(rated.price, invoiced.pooled, currency).amount;
    const after = rateMeter(rated.price, current.pooled, currency).amount;
    const amount = after - before;
    if (amount === 0n) continue;
    // Each tenant's change; whoever added usage carries the adjustment.
    const was = new Map(invoiced.tenants.map((t) => [t.tenantId, t.contribution]));
    const ids = new Set([...was.keys(), ...current.tenants.map((t) => t.tenantId)]);
    const now = new Map(current.tenants.map((t) => [t.tenantId, t.contribution]));
    const delta: MeterPeriodUsage = {
      meterKey: rated.meterKey,
      pooled: current.pooled - invoiced.pooled,
      tenants: [...ids].map((tenantId) => ({
        tenantId,
        contribution: (now.get(tenantId) ?? 0n) - (was.get(tenantId) ?? 0n),
      })),
    };
    const weights = delta.tenants.some((t) => t.contribution > 0n) ? delta : current;
    lines.push({
      kind: 'adjustment',
      description: `${rated.meterKey}: usage of an earlier period grew from ${formatQuantity(invoiced.pooled)} to ${formatQuantity(current.pooled)}`,
      planId: prior.planId,
      planVersion: prior.planVersion,
      fromMs: prior.periodStartMs,
      toMs: prior.periodEndMs,
      meterKey: rated.meterKey,
      pooled: formatQuantity(delta.pooled),
      amount,
      attribution: subLines(amount, { ...weights, tenants: weights.tenants }).map((s) => ({
        ...s,
        quantity: formatQuantity(delta.tenants.find((t) => t.tenantId === s.tenantId)?.contribution ?? 0n),
      })),
      adjusts: {
        invoiceId: prior.invoiceId,
        invoicedPooled: formatQuantity(invoiced.pooled),
        currentPooled: formatQuantity(current.pooled),
        invoicedAmount: before,
        currentAmount: after,
      },
    });
  }
  return lines;
}

/**
 * An invoice for one period: a base fee line per plan phase (prorated when the plan changed or
 * the subscription started within the period), a usage line per meter of the plan in force at
 * the period's end — pooled usage, included, overage, tiers, amount and per-tenant sub-lines —
 * and adjustment lines for finalized earlier periods whose usage grew. The total is the sum of
 * the lines; each line's sub-lines add up to it.
 */
export function buildInvoice(input: InvoiceInput): InvoiceDraft {
  if (input.phases.length === 0) throw new RangeError('an invoice needs at least one plan phase');
  const last = input.phases[input.phases.length - 1];
  const currency = last.spec.currency;
  const lines = baseFeeLines(input, currency);
  const rated: RatedUsage[] = [];
  for (const meter of last.spec.meters) {
    const price = meterPriceOf(meter);
    const usage = input.usage.find((u) => u.meterKey === meter.meterKey) ?? noUsage(meter.meterKey);
    lines.push(usageLine(last, price, rateMeter(price, usage.pooled, currency), usage, input.period));
    rated.push({
      meterKey: meter.meterKey,
      price,
      pooled: formatQuantity(usage.pooled),
      tenants: usage.tenants.map((t) => ({
        tenantId: t.tenantId,
        contribution: formatQuantity(t.contribution),
      })),
    });
  }
  for (const prior of input.prior ?? []) lines.push(...adjustmentLines(prior, currency));
  const total = lines.reduce((sum, l) => sum + l.amount, 0n);
  return { currency, lines, total, rated };
}
