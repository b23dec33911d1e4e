import { decideSubscription, endedPeriods, phasesIn, type SubscribeCommand } from './subscription';

const DAY = 86_400_000;
const MAY_10 = Date.UTC(2026, 4, 10);

const command = (patch: Partial<SubscribeCommand> = {}): SubscribeCommand => ({
  accountId: 'acc_1',
  newId: 'sub_1',
  planId: 'plan_a',
  planVersion: 1,
  currency: 'USD',
  nowMs: MAY_10,
  ...patch,
});

describe(decideSubscription.name, () => {
  const started = decideSubscription(undefined, command({ startAtMs: Date.UTC(2026, 3, 15) })).subscription;

  it('starts a subscription on the default calendar', () => {
    expect(started).toMatchObject({
      anchorDay: 1,
      timezone: 'UTC',
      phases: [{ effectiveFromMs: Date.UTC(2026, 3, 15) }],
    });
  });

  it('changes plan at the next period boundary by default', () => {
    const { added } = decideSubscription(started, command({ planVersion: 2 }));
    expect(added).toEqual({ effectiveFromMs: Date.UTC(2026, 5, 1), planId: 'plan_a', planVersion: 2 });
  });

  it('changes plan at once when asked', () => {
    const { subscription } = decideSubscription(started, command({ planVersion: 2, timing: 'now' }));
    expect(subscription.phases.map((p) => p.effectiveFromMs)).toEqual([Date.UTC(2026, 3, 15), MAY_10]);
  });

  it('replaces a change not yet in effect', () => {
    const pending = decideSubscription(started, command({ planVersion: 2 })).subscription;
    const { subscription } = decideSubscription(pending, command({ planVersion: 3 }));
    expect(subscription.phases.map((p) => p.planVersion)).toEqual([1, 3]);
  });

  it('adds nothing when the plan version is the current one', () => {
    expect(decideSubscription(started, command()).added).toBeUndefined();
  });

  it('refuses another calendar or currency, naming the field', () => {
    expect(() => decideSubscription(started, command({ anchorDay: 5 }))).toThrow(
      expect.objectContaining({
        code: 'calendar_immutable',
        details: [expect.objectContaining({ field: 'anchorDay' })],
      }),
    );
    expect(() => decideSubscription(started, command({ currency: 'EUR', planVersion: 2 }))).toThrow(
      expect.objectContaining({ details: [expect.objectContaining({ field: 'planVersion' })] }),
    );
  });

  it('names an unknown time zone', () => {
    expect(() => decideSubscription(undefined, command({ timezone: 'Mars/Base' }))).toThrow(
      expect.objectContaining({ kind: 'invalid', details: [expect.objectContaining({ field: 'timezone' })] }),
    );
  });
});

describe(phasesIn.name, () => {
  it('clips phases to the period and lists the ended periods since the start', () => {
    const sub = decideSubscription(undefined, command({ startAtMs: Date.UTC(2026, 3, 15) })).subscription;
    const periods = endedPeriods(sub, MAY_10 + 30 * DAY);
    expect(periods.map((p) => p.startDate)).toEqual(['2026-04-01', '2026-05-01']);
    expect(phasesIn(sub, periods[0])).toEqual([
      expect.objectContaining({ fromMs: Date.UTC(2026, 3, 15), toMs: Date.UTC(2026, 4, 1) }),
    ]);
  });
});
