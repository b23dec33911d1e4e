import fc from 'fast-check';
import { UNIT } from './quantity';
import { percentOf, quotaPeriodDecider, reachedThresholds, type QuotaCrossing } from './quota';

const crossing = (threshold: number, key = 'mau'): QuotaCrossing => ({
  scope: 'pool',
  key,
  threshold,
  used: '80',
  allowance: '100',
  percent: '80.00',
});

describe('quota thresholds', () => {
  it('reaches 80 exactly at 80 % and 100 exactly at the allowance, not a nano-unit before', () => {
    expect(reachedThresholds(80n * UNIT, 100n * UNIT)).toEqual([80]);
    expect(reachedThresholds(80n * UNIT - 1n, 100n * UNIT)).toEqual([]);
    expect(reachedThresholds(100n * UNIT, 100n * UNIT)).toEqual([80, 100]);
    expect(reachedThresholds(100n * UNIT - 1n, 100n * UNIT)).toEqual([80]);
  });

  it('treats an allowance of zero as reached by any use', () => {
    expect(reachedThresholds(0n, 0n)).toEqual([]);
    expect(reachedThresholds(1n, 0n)).toEqual([80, 100]);
  });

  it('reports a percentage that reaches a threshold exactly when the threshold is reached', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 15n }),
        fc.bigInt({ min: 1n, max: 10n ** 15n }),
        (used, allowance) => {
          const percent = Number(percentOf(used, allowance));
          for (const t of [80, 100])
            expect(reachedThresholds(used, allowance).includes(t)).toBe(percent >= t);
        },
      ),
    );
  });
});

describe('quotaPeriodDecider', () => {
  const period = { periodStart: '2026-11-01T00:00:00.000Z', periodEnd: '2026-12-01T00:00:00.000Z' };

  it('announces each crossing once per period, however often it is observed', () => {
    let state = quotaPeriodDecider.initialState;
    const announced = [];
    for (const crossings of [
      [crossing(80)],
      [crossing(80)],
      [crossing(80), crossing(100)],
      [crossing(100)],
    ]) {
      const events = quotaPeriodDecider.decide({ crossings, ...period }, state);
      announced.push(...events.map((e) => e.data.threshold));
      state = events.reduce(quotaPeriodDecider.evolve, state);
    }
    expect(announced).toEqual([80, 100]);
  });

  it('keeps meters, tenants and limits apart', () => {
    const events = quotaPeriodDecider.decide(
      {
        crossings: [
          crossing(80, 'mau'),
          crossing(80, 'pcc'),
          { ...crossing(80, 'maxAgents'), scope: 'tenant-limit', tenantId: 't1' },
          { ...crossing(80, 'maxAgents'), scope: 'tenant-limit', tenantId: 't2' },
          crossing(80, 'mau'),
        ],
        ...period,
      },
      quotaPeriodDecider.initialState,
    );
    expect(events).toHaveLength(4);
    expect(events.filter((e) => e.tenantId).map((e) => e.tenantId)).toEqual(['t1', 't2']);
  });
});
