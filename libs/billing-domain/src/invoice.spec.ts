import fc from 'fast-check';
import type { PriceModel } from '@metering/billing-math';
import { buildInvoice } from './invoice';
import { APRIL, apiCalls, planSpec, units, usageOf, wholePeriod } from './test-support/builders';

describe(buildInvoice.name, () => {
  it('bills the base fee and nothing for usage exactly at the included quantity', () => {
    const invoice = buildInvoice({
      period: APRIL,
      phases: [wholePeriod(planSpec())],
      usage: [usageOf('api_calls', { t1: units(600), t2: units(400) })],
    });
    const usage = invoice.lines.find((l) => l.kind === 'usage')!;
    expect(usage).toMatchObject({ pooled: '1000', included: '1000', overage: '0', amount: 0n, tiers: [] });
    expect(usage.attribution).toEqual([
      { tenantId: 't1', quantity: '600', amount: 0n },
      { tenantId: 't2', quantity: '400', amount: 0n },
    ]);
    expect(invoice.total).toBe(3000n);
  });

  it('prices overage and attributes it to tenants by contribution', () => {
    const invoice = buildInvoice({
      period: APRIL,
      phases: [wholePeriod(planSpec())],
      usage: [usageOf('api_calls', { t1: units(1200), t2: units(300) })],
    });
    const usage = invoice.lines.find((l) => l.kind === 'usage')!;
    // 500 over at 0.01 = 5.00, split 1200:300 → 4.00 + 1.00
    expect(usage).toMatchObject({ overage: '500', amount: 500n });
    expect(usage.attribution.map((a) => a.amount)).toEqual([400n, 100n]);
    expect(invoice.total).toBe(3500n);
  });

  // Worked example: 1,000 included, then 2,500 over; tiers up to 1,000 at 0.02, up to 2,000 at 0.015,
  // above at 0.01. Graduated: 1000×0.02 + 1000×0.015 + 500×0.01 = 20 + 15 + 5 = 40.00.
  // Volume: all 2,500 in the top tier at 0.01 = 25.00.
  const tiers = [
    { upTo: '1000', unitPrice: '0.02' },
    { upTo: '2000', unitPrice: '0.015' },
    { unitPrice: '0.01' },
  ];
  const rate = (type: 'GRADUATED' | 'VOLUME') =>
    buildInvoice({
      period: APRIL,
      phases: [wholePeriod(planSpec({ baseFee: '0', meters: [apiCalls({ overage: { type, tiers } })] }))],
      usage: [usageOf('api_calls', { t1: units(3500) })],
    }).lines[1];

  it('prices graduated tiers tier by tier, to the cent', () => {
    const line = rate('GRADUATED');
    expect(line.amount).toBe(4000n);
    expect(line.tiers!.map((t) => [t.tier, t.units, t.amount])).toEqual([
      [0, '1000', 2000n],
      [1, '1000', 1500n],
      [2, '500', 500n],
    ]);
  });

  it('prices volume tiers at the one tier the total falls in, to the cent', () => {
    const line = rate('VOLUME');
    expect(line.amount).toBe(2500n);
    expect(line.tiers!.map((t) => [t.tier, t.units, t.amount])).toEqual([[2, '2500', 2500n]]);
  });

  it('caps billable overage at the hard cap', () => {
    const line = buildInvoice({
      period: APRIL,
      phases: [wholePeriod(planSpec({ meters: [apiCalls({ hardCap: '100' })] }))],
      usage: [usageOf('api_calls', { t1: units(5000) })],
    }).lines[1];
    expect(line).toMatchObject({ overage: '4000', billable: '100', hardCap: '100', amount: 100n });
  });

  it('prorates the base fee over plan phases within the period', () => {
    const at = APRIL.startMs + 10 * 86_400_000;
    const cheap = { ...wholePeriod(planSpec({ baseFee: '30.00' })), toMs: at };
    const dear = {
      ...wholePeriod(planSpec({ baseFee: '60.00' }), APRIL, 'plan_a', 2),
      effectiveFromMs: at,
      fromMs: at,
    };
    const invoice = buildInvoice({ period: APRIL, phases: [cheap, dear], usage: [] });
    expect(invoice.lines.filter((l) => l.kind === 'base_fee').map((l) => l.amount)).toEqual([1000n, 4000n]);
  });

  it('adds an adjustment line for a finalized period whose usage grew: rate(now) − rate(as invoiced)', () => {
    const spec = planSpec();
    const march = buildInvoice({
      period: APRIL,
      phases: [wholePeriod(spec)],
      usage: [usageOf('api_calls', { t1: units(1100) })],
    });
    const invoice = buildInvoice({
      period: APRIL,
      phases: [wholePeriod(spec)],
      usage: [],
      prior: [
        {
          invoiceId: 'inv_march',
          planId: 'plan_a',
          planVersion: 1,
          periodStartMs: 0,
          periodEndMs: APRIL.startMs,
          rated: march.rated,
          current: [usageOf('api_calls', { t1: units(1100), t2: units(250) })],
        },
      ],
    });
    const adjustment = invoice.lines.find((l) => l.kind === 'adjustment')!;
    expect(adjustment).toMatchObject({ meterKey: 'api_calls', pooled: '250', amount: 250n });
    expect(adjustment.adjusts).toMatchObject({
      invoiceId: 'inv_march',
      invoicedAmount: 100n,
      currentAmount: 350n,
    });
    expect(adjustment.attribution).toEqual([
      { tenantId: 't1', quantity: '0', amount: 0n },
      { tenantId: 't2', quantity: '250', amount: 250n },
    ]);
  });

  it('keeps the total equal to the sum of lines and each line equal to its sub-lines', () => {
    const tenantUsage = fc.dictionary(
      fc.stringMatching(/^t[0-9a-f]{1,4}$/),
      fc.bigInt({ min: 0n, max: 10n ** 15n }),
      {
        maxKeys: 20,
      },
    );
    const model = fc.constantFrom<PriceModel>(
      { type: 'PER_UNIT', unitPrice: '0.0033' },
      {
        type: 'GRADUATED',
        tiers: [{ upTo: '10', unitPrice: '0.333', flatFee: '0.01' }, { unitPrice: '0.07' }],
      },
      {
        type: 'VOLUME',
        tiers: [
          { upTo: '10', unitPrice: '0.333' },
          { unitPrice: '0.07', flatFee: '1.5' },
        ],
      },
      { type: 'PACKAGE', packageSize: '7', packagePrice: '1.11' },
    );
    fc.assert(
      fc.property(tenantUsage, model, fc.constantFrom('0', '3.5', '100'), (parts, overage, included) => {
        const invoice = buildInvoice({
          period: APRIL,
          phases: [wholePeriod(planSpec({ meters: [apiCalls({ included, overage })] }))],
          usage: [usageOf('api_calls', parts)],
        });
        expect(invoice.lines.reduce((s, l) => s + l.amount, 0n)).toBe(invoice.total);
        for (const line of invoice.lines.filter((l) => l.attribution.length)) {
          expect(line.attribution.reduce((s, a) => s + a.amount, 0n)).toBe(line.amount);
        }
      }),
    );
  });
});
