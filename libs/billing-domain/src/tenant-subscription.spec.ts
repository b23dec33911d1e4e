import { BillingErrorCode } from './errors';
import { endedPeriods, phasesIn } from './subscription';
import {
  decideTenantBilling,
  modeHistory,
  ownPlanSpans,
  type TenantBillingCommand,
  type TenantBillingContext,
  type TenantSubscription,
} from './tenant-subscription';

const MAY_1 = Date.UTC(2026, 4, 1);
const MAY_10 = Date.UTC(2026, 4, 10);
const JUNE_1 = Date.UTC(2026, 5, 1);

const ownPlan = (
  patch: Partial<Extract<TenantBillingCommand, { kind: 'own-plan' }>> = {},
): TenantBillingCommand => ({
  kind: 'own-plan',
  accountId: 'acc_1',
  tenantId: 'ten_1',
  newId: 'tsub_1',
  planId: 'plan_own',
  planVersion: 1,
  currency: 'USD',
  nowMs: MAY_10,
  defaults: { anchorDay: 1, timezone: 'UTC' },
  ...patch,
});

const pooled = (
  patch: Partial<Extract<TenantBillingCommand, { kind: 'pooled' }>> = {},
): TenantBillingCommand => ({
  kind: 'pooled',
  tenantId: 'ten_1',
  nowMs: MAY_10,
  ...patch,
});

const open: TenantBillingContext = {
  pool: { anchorDay: 1, timezone: 'UTC' },
  poolClosedUntilMs: 0,
  ownClosedUntilMs: 0,
};

const start = (cmd = ownPlan(), ctx = open): TenantSubscription =>
  decideTenantBilling([], cmd, ctx).subscription!;

describe(decideTenantBilling.name, () => {
  it('moves a pooled tenant to its own plan at the switch instant, on its own calendar', () => {
    const at = MAY_10 + 12_345;
    const { subscription, change } = decideTenantBilling(
      [],
      ownPlan({ effectiveAtMs: at, anchorDay: 15, timezone: 'Asia/Tokyo', stripeCustomer: 'tenant' }),
      open,
    );
    expect(subscription).toMatchObject({
      tenantId: 'ten_1',
      startMs: at,
      endMs: null,
      anchorDay: 15,
      timezone: 'Asia/Tokyo',
      stripeCustomer: 'tenant',
      phases: [{ effectiveFromMs: at, planId: 'plan_own', planVersion: 1 }],
    });
    expect(change).toMatchObject({ mode: 'tenant', effectiveFromMs: at, phase: { planVersion: 1 } });
  });

  it('takes the account calendar and the account customer by default', () => {
    const sub = start(ownPlan({ defaults: { anchorDay: 7, timezone: 'Europe/Berlin' } }));
    expect(sub).toMatchObject({
      anchorDay: 7,
      timezone: 'Europe/Berlin',
      stripeCustomer: 'account',
      startMs: MAY_10,
    });
  });

  it('changes the own plan at its next period boundary by default, and never its calendar', () => {
    const sub = start();
    const { change } = decideTenantBilling([sub], ownPlan({ planVersion: 2 }), open);
    expect(change).toMatchObject({ mode: 'tenant', effectiveFromMs: JUNE_1 });
    expect(decideTenantBilling([sub], ownPlan(), open)).toEqual({});
    expect(() =>
      decideTenantBilling([sub], ownPlan({ planVersion: 2, timezone: 'Asia/Tokyo' }), open),
    ).toThrow(
      expect.objectContaining({
        code: BillingErrorCode.CALENDAR_IMMUTABLE,
        details: [expect.objectContaining({ field: 'timezone' })],
      }),
    );
    expect(() =>
      decideTenantBilling([sub], ownPlan({ planVersion: 2, stripeCustomer: 'tenant' }), open),
    ).toThrow(expect.objectContaining({ details: [expect.objectContaining({ field: 'stripeCustomer' })] }));
  });

  it('ends the own plan at the switch back, and its last period bills only up to it', () => {
    const sub = start(ownPlan({ effectiveAtMs: MAY_1 - 86_400_000 * 20 }));
    const back = MAY_10 + 1;
    const { subscription, change } = decideTenantBilling([sub], pooled({ effectiveAtMs: back }), open);
    expect(change).toMatchObject({ mode: 'pooled', effectiveFromMs: back });
    expect(subscription!.endMs).toBe(back);
    const may = { startMs: MAY_1, endMs: JUNE_1 };
    expect(phasesIn(subscription!, may)).toEqual([expect.objectContaining({ fromMs: MAY_1, toMs: back })]);
    expect(endedPeriods(subscription!, Date.UTC(2026, 7, 1)).map((p) => p.startDate)).toEqual([
      '2026-04-01',
      '2026-05-01',
    ]);
    expect(decideTenantBilling([subscription!], pooled(), open)).toEqual({});
  });

  it('refuses a rejoin within the pool period the tenant left in, naming effectiveAt', () => {
    const sub = start(ownPlan({ effectiveAtMs: MAY_10 }));
    expect(() => decideTenantBilling([sub], pooled({ effectiveAtMs: MAY_10 + 1000 }), open)).toThrow(
      expect.objectContaining({
        code: BillingErrorCode.POOL_REJOIN_TOO_EARLY,
        details: [expect.objectContaining({ field: 'effectiveAt' })],
      }),
    );
    expect(decideTenantBilling([sub], pooled({ effectiveAtMs: JUNE_1 }), open).change).toMatchObject({
      effectiveFromMs: JUNE_1,
    });
    // Left exactly at a pool period's start: the pooled part of that period is empty.
    const atBoundary = start(ownPlan({ effectiveAtMs: MAY_1 }));
    expect(decideTenantBilling([atBoundary], pooled({ effectiveAtMs: MAY_10 }), open).change).toBeDefined();
  });

  it('refuses a switch inside an invoiced period or before the last change', () => {
    expect(() =>
      decideTenantBilling([], ownPlan({ effectiveAtMs: MAY_10 }), { ...open, poolClosedUntilMs: JUNE_1 }),
    ).toThrow(expect.objectContaining({ code: BillingErrorCode.PERIOD_CLOSED }));
    const sub = start(ownPlan({ effectiveAtMs: MAY_1 }));
    expect(() =>
      decideTenantBilling([sub], pooled({ effectiveAtMs: JUNE_1 }), {
        ...open,
        ownClosedUntilMs: Date.UTC(2026, 6, 1),
      }),
    ).toThrow(expect.objectContaining({ code: BillingErrorCode.PERIOD_CLOSED }));
    const ended = decideTenantBilling([sub], pooled({ effectiveAtMs: JUNE_1 }), open).subscription!;
    expect(() =>
      decideTenantBilling([ended], ownPlan({ newId: 'tsub_2', effectiveAtMs: MAY_10 }), open),
    ).toThrow(expect.objectContaining({ code: BillingErrorCode.INVALID_SUBSCRIPTION }));
  });

  it('refuses an end that would leave an invoiced own period with nothing to bill', () => {
    const sub = start(ownPlan({ effectiveAtMs: MAY_10 }));
    const invoiced = { ...open, ownInvoicedFromMs: MAY_1 };
    expect(() => decideTenantBilling([sub], pooled({ effectiveAtMs: MAY_1 }), invoiced)).toThrow(
      expect.objectContaining({ code: BillingErrorCode.PERIOD_CLOSED }),
    );
    expect(decideTenantBilling([sub], pooled({ effectiveAtMs: JUNE_1 }), invoiced).change).toBeDefined();
  });

  it('keeps the history as spans and modes', () => {
    const first = start(ownPlan({ effectiveAtMs: MAY_1 }));
    const ended = decideTenantBilling([first], pooled({ effectiveAtMs: JUNE_1 }), open).subscription!;
    const again = decideTenantBilling(
      [ended],
      ownPlan({ newId: 'tsub_2', effectiveAtMs: JUNE_1 + 5 }),
      open,
    ).subscription!;
    expect(ownPlanSpans([ended, again])).toEqual([
      { tenantId: 'ten_1', subscriptionId: 'tsub_1', fromMs: MAY_1, toMs: JUNE_1 },
      { tenantId: 'ten_1', subscriptionId: 'tsub_2', fromMs: JUNE_1 + 5, toMs: Infinity },
    ]);
    expect(modeHistory([ended, again]).map((h) => [h.mode, h.from, h.to])).toEqual([
      ['pooled', null, new Date(MAY_1).toISOString()],
      ['tenant', new Date(MAY_1).toISOString(), new Date(JUNE_1).toISOString()],
      ['pooled', new Date(JUNE_1).toISOString(), new Date(JUNE_1 + 5).toISOString()],
      ['tenant', new Date(JUNE_1 + 5).toISOString(), null],
    ]);
  });
});
