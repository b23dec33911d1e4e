import { checkPlanVersion, planVersionProblems } from './plan';
import { apiCalls, planSpec } from './test-support/builders';

describe(planVersionProblems.name, () => {
  const catalog = new Set(['api_calls', 'mau']);

  it('accepts a sound plan version', () => {
    expect(planVersionProblems(planSpec(), catalog)).toEqual([]);
  });

  it('names an unknown meter, an unknown currency and a bad hard cap by field', () => {
    const problems = planVersionProblems(
      planSpec({ currency: 'XXY', meters: [apiCalls({ hardCap: '-1' }), apiCalls({ meterKey: 'nope' })] }),
      catalog,
    );
    expect(problems.map((p) => p.field)).toEqual(
      expect.arrayContaining(['currency', 'meters[0].hardCap', 'meters[1].meterKey']),
    );
  });

  it('names a tier out of order', () => {
    const overage = {
      type: 'GRADUATED' as const,
      tiers: [{ upTo: '10', unitPrice: '1' }, { upTo: '5', unitPrice: '1' }, { unitPrice: '1' }],
    };
    expect(planVersionProblems(planSpec({ meters: [apiCalls({ overage })] })).map((p) => p.field)).toEqual([
      'meters[0].overage.tiers[1].upTo',
    ]);
  });

  it('refuses bad limits and grace periods', () => {
    expect(
      planVersionProblems(planSpec({ tenantLimits: { maxAgents: -1 }, gracePeriodHours: 10_000 })).map(
        (p) => p.field,
      ),
    ).toEqual(['tenantLimits.maxAgents', 'gracePeriodHours']);
  });

  it('throws an invalid error whose details name each field', () => {
    expect(() => checkPlanVersion(planSpec({ baseFee: '1.234' }))).toThrow(
      expect.objectContaining({
        kind: 'invalid',
        details: [{ field: 'baseFee', reasons: [expect.any(String)] }],
      }),
    );
  });
});
