import { peakComparison, rangeOf, usageBars, windowLabel, type TenantDirectory } from './figures';
import type { Usage } from './types';

const directory: TenantDirectory = {
  name: (id) => `name of ${id}`,
  colour: (id) => (id === 'a' ? '#111111' : '#222222'),
  order: (id) => (id === 'a' ? 0 : 1),
};

const NOW = Date.parse('2025-03-10T14:37:21.000Z');

describe(rangeOf.name, () => {
  it('uses the billing period by day, or the last 30 days without one', () => {
    const period = { start: '2025-03-01T00:00:00.000Z', end: '2025-04-01T00:00:00.000Z' };
    expect(rangeOf('period', NOW, period)).toEqual({ from: period.start, to: period.end, window: 'day' });
    expect(rangeOf('period', NOW)).toEqual({
      from: '2025-02-09T00:00:00.000Z',
      to: '2025-03-11T00:00:00.000Z',
      window: 'day',
    });
  });

  it('covers whole windows up to and including the current one', () => {
    expect(rangeOf('24h', NOW)).toEqual({
      from: '2025-03-09T15:00:00.000Z',
      to: '2025-03-10T15:00:00.000Z',
      window: 'hour',
    });
    expect(rangeOf('60m', NOW)).toEqual({
      from: '2025-03-10T13:38:00.000Z',
      to: '2025-03-10T14:38:00.000Z',
      window: 'minute',
    });
    expect(rangeOf('7d', NOW).from).toBe('2025-03-04T00:00:00.000Z');
  });
});

describe(windowLabel.name, () => {
  it('labels days by date and shorter windows by time, in UTC', () => {
    expect(windowLabel('2025-03-09T00:00:00.000Z', 'day')).toBe('03-09');
    expect(windowLabel('2025-03-09T07:05:00.000Z', 'minute')).toBe('07:05');
  });
});

const usage: Usage = {
  meter: 'pcc',
  aggregation: 'MAX',
  from: '2025-03-10T00:00:00.000Z',
  to: '2025-03-11T00:00:00.000Z',
  value: '15',
  events: 6,
  peakBucketStart: '2025-03-10T12:00:00.000Z',
  tenants: [
    { tenantId: 'b', usage: '8', contribution: '2', events: 2 },
    { tenantId: 'a', usage: '10', contribution: '10', events: 2 },
    { tenantId: 'c', usage: '3', contribution: '3', events: 2 },
  ],
  windows: [
    {
      from: '2025-03-10T00:00:00.000Z',
      to: '2025-03-11T00:00:00.000Z',
      value: '15',
      events: 6,
      tenants: [
        { tenantId: 'b', usage: '8', contribution: '2', events: 2 },
        { tenantId: 'a', usage: '10', contribution: '10', events: 2 },
      ],
    },
  ],
};

describe(usageBars.name, () => {
  it("stacks each window's contributions in the tenant list's order", () => {
    expect(usageBars(usage, 'day', directory)).toEqual([
      {
        label: '03-10',
        from: '2025-03-10T00:00:00.000Z',
        total: '15',
        segments: [
          { tenantId: 'a', name: 'name of a', value: '10', colour: '#111111' },
          { tenantId: 'b', name: 'name of b', value: '2', colour: '#222222' },
        ],
      },
    ]);
  });
});

describe(peakComparison.name, () => {
  it("sets the pooled peak against the sum of the tenants' own peaks", () => {
    expect(peakComparison(usage)).toEqual({
      pooledPeak: '15',
      sumOfPeaks: '21',
      peakBucketStart: '2025-03-10T12:00:00.000Z',
      tenants: [
        { tenantId: 'a', peak: '10', atPooledPeak: '10' },
        { tenantId: 'b', peak: '8', atPooledPeak: '2' },
        { tenantId: 'c', peak: '3', atPooledPeak: '3' },
      ],
    });
  });
});
