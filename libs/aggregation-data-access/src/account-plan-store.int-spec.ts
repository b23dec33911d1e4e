import { randomUUID } from 'node:crypto';
import type { SubscriptionChangedData, TenantSubscriptionChangedData } from '@metering/contracts';
import { openScratchDatabase } from '@metering/persistence';
import { stackVar } from '@metering/testing';
import { TenantPlanStore } from './account-plan-store';
import { AGGREGATION_MIGRATIONS } from './migrations';

const plan = (planVersion: number, effectiveFromMs: number): SubscriptionChangedData => ({
  subscriptionId: 'tsub_1',
  planId: 'plan_own',
  planVersion,
  currency: 'USD',
  anchorDay: 1,
  timezone: 'UTC',
  effectiveFromMs,
  meters: [{ meterKey: 'api_calls', included: '5' }],
});

describe(TenantPlanStore.name, () => {
  let store: TenantPlanStore;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const scratch = await openScratchDatabase(stackVar('POSTGRES_URL'), 'it_agg_tenant_plans', {
      migrations: AGGREGATION_MIGRATIONS,
    });
    drop = scratch.drop;
    store = new TenantPlanStore(scratch.db);
  });

  afterAll(() => drop());

  const change = (
    tenantId: string,
    mode: 'pooled' | 'tenant',
    effectiveFromMs: number,
    planVersion = 1,
  ): TenantSubscriptionChangedData => ({
    tenantId,
    mode,
    effectiveFromMs,
    subscriptionId: 'tsub_1',
    ...(mode === 'tenant' ? { plan: plan(planVersion, effectiveFromMs) } : {}),
  });
  const event = (aggregateVersion: number) => ({ eventId: randomUUID(), aggregateVersion });
  const ownPlanAt = async (accountId: string, tenantId: string, atMs: number) =>
    (await store.ownPlansAt(accountId, atMs)).find((p) => p.tenantId === tenantId) ?? null;

  it('keeps spans on own plans with their plan changes, and the pool around them', async () => {
    const t = `ten_${randomUUID().slice(0, 8)}`;
    await store.record('acc_1', event(1), change(t, 'tenant', 1000));
    await store.record('acc_1', event(2), change(t, 'tenant', 2000, 2));
    await store.record('acc_1', event(3), change(t, 'pooled', 3000));
    expect((await store.ownSpans('acc_1')).filter((s) => s.tenantId === t)).toEqual([
      { tenantId: t, subscriptionId: 'tsub_1', fromMs: 1000, toMs: 3000 },
    ]);
    expect(await ownPlanAt('acc_1', t, 999)).toBeNull();
    expect(await ownPlanAt('acc_1', t, 1999)).toMatchObject({
      sinceMs: 1000,
      untilMs: 3000,
      plan: { planVersion: 1 },
    });
    expect(await ownPlanAt('acc_1', t, 2000)).toMatchObject({ plan: { planVersion: 2 } });
    expect(await ownPlanAt('acc_1', t, 3000)).toBeNull();
  });

  it('lets a later change replace what was scheduled after it, and ignores a replayed older event', async () => {
    const t = `ten_${randomUUID().slice(0, 8)}`;
    await store.record('acc_2', event(1), change(t, 'tenant', 1000));
    await store.record('acc_2', event(2), change(t, 'tenant', 5000, 2));
    await store.record('acc_2', event(3), change(t, 'tenant', 3000, 3));
    expect(await ownPlanAt('acc_2', t, 6000)).toMatchObject({ plan: { planVersion: 3 } });
    await store.record('acc_2', event(2), change(t, 'tenant', 5000, 2));
    expect(await ownPlanAt('acc_2', t, 6000)).toMatchObject({ plan: { planVersion: 3 } });
    expect((await store.ownPlansAt('acc_2', 6000)).map((p) => p.tenantId)).toEqual([t]);
  });
});
