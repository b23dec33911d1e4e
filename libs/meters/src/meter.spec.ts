import { validateAs } from '@metering/contracts';
import { DEFAULT_METERS } from './default-meters';
import { MeterDefinitionDto, meterProblems, toMeter } from './meter';

describe('meterProblems', () => {
  it('finds nothing wrong with the default meters', () => {
    for (const meter of DEFAULT_METERS) {
      expect(validateAs(MeterDefinitionDto, meter).ok).toBe(true);
      expect(meterProblems(meter)).toEqual([]);
    }
  });

  it.each([
    [{ key: 'm', eventType: 'e', aggregation: 'SUM' }, 'valueProperty'],
    [{ key: 'm', eventType: 'e', aggregation: 'COUNT', valueProperty: 'x' }, 'valueProperty'],
    [
      {
        key: 'm',
        eventType: 'e',
        aggregation: 'SUM',
        valueProperty: 'x',
        pooling: 'distinct-across-tenants',
      },
      'pooling',
    ],
    [
      { key: 'm', eventType: 'e', aggregation: 'LATEST', valueProperty: 'x', bucketSeconds: 60 },
      'bucketSeconds',
    ],
    [
      { key: 'm', eventType: 'e', aggregation: 'MAX', valueProperty: 'x', allowNegative: true },
      'allowNegative',
    ],
  ] as const)('names the field of an inconsistent definition %j', (def, field) => {
    expect(meterProblems(def).map((p) => p.field)).toEqual([field]);
  });
});

describe('toMeter', () => {
  it('fills defaults: one-minute buckets for gauges, sum-of-tenants pooling', () => {
    expect(toMeter({ key: 'pcc', eventType: 'c', aggregation: 'MAX', valueProperty: 'n' })).toMatchObject({
      bucketSeconds: 60,
      pooling: 'sum-of-tenants',
      allowNegative: false,
      groupBy: [],
    });
  });
});
