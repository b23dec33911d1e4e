// The parts of the services' REST answers the page reads (see each service's README).

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Account {
  id: string;
  name: string;
  currency: string;
  timezone: string;
  status: string;
}

export interface Tenant {
  id: string;
  accountId: string;
  name: string;
  status: string;
  limits: Record<string, number>;
  placement: { deploymentModel?: string; hosting?: string; cell?: string };
  createdAt: string;
}

export interface Meter {
  key: string;
  name?: string;
  aggregation: string;
  unit?: string;
}

export interface TenantUsage {
  tenantId: string;
  /** The tenant's own figure (for MAX meters its own peak). */
  usage: string;
  /** Its part of the pooled value (for MAX meters its value in the peak bucket). */
  contribution: string;
  events: number;
}

export interface UsageFigures {
  from: string;
  to: string;
  value: string;
  events: number;
  tenants: TenantUsage[];
  peakBucketStart?: string;
}

export interface Usage extends UsageFigures {
  meter: string;
  aggregation: string;
  windows?: UsageFigures[];
}

export interface MeterQuota {
  meter: string;
  included: string;
  hardCap?: string;
  used: string;
  remaining: string;
  percentUsed: string;
  overage: string;
  tenants: TenantUsage[];
}

export interface Quotas {
  accountId: string;
  planId: string;
  planVersion: number;
  period: { start: string; end: string };
  meters: MeterQuota[];
  asOf: string;
}

export interface Money {
  minor: number;
  formatted: string;
}

export interface InvoiceLine {
  /** `base_fee`, `usage` or `adjustment`. */
  kind: string;
  description: string;
  meterKey?: string;
  pooled?: string;
  included?: string;
  overage?: string;
  amount: Money;
  attribution: { tenantId: string; quantity: string; amount: Money }[];
}

export interface Invoice {
  id: string;
  /** `pooled` (the account's pool) or `tenant` (the own subscription of `tenantId`). */
  mode: 'pooled' | 'tenant';
  tenantId: string | null;
  status: string;
  currency: string;
  periodStart: string;
  periodEnd: string;
  periodStartDate: string;
  periodEndDate: string;
  total: Money;
  lines: InvoiceLine[];
}

export interface AuditEntry {
  id: string;
  seq: number;
  time: string;
  tenantId: string | null;
  actor: { type: string; id: string };
  action: string;
  target: { type: string; id: string };
  hash: string;
}

export interface AuditVerification {
  ok: boolean;
  entries: number;
  head: { seq: number; hash: string };
  firstBroken?: { seq: number; reason: string; message: string };
}
