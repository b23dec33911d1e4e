import { buildInvoice } from './invoice';
import { invoicesCsv } from './invoice-view';
import { APRIL, planSpec, storedInvoice, units, usageOf, wholePeriod } from './test-support/builders';

describe(invoicesCsv.name, () => {
  it('writes one row per line and per tenant sub-line', () => {
    const draft = buildInvoice({
      period: APRIL,
      phases: [wholePeriod(planSpec({ baseFee: '30.00' }))],
      usage: [usageOf('api_calls', { t1: units(1200), t2: units(300) })],
    });
    const invoice = storedInvoice(draft);
    const rows = invoicesCsv([invoice]).trimEnd().split('\r\n');
    expect(rows).toHaveLength(1 + 2 + 2);
    expect(rows[0]).toBe(
      'invoice_id,account_id,mode,invoice_tenant_id,status,currency,period_start,period_end,line,kind,meter_key,tenant_id,description,quantity,amount_minor,amount',
    );
    expect(rows[1]).toBe(
      'inv_1,acc_1,pooled,,draft,USD,2026-04-01T00:00:00.000Z,2026-05-01T00:00:00.000Z,1,base_fee,,,"base fee, plan plan_a v1",,3000,30.00',
    );
    expect(rows[2]).toMatch(/,2,usage,api_calls,,"api_calls: 1500 pooled, 1000 included",1500,500,5\.00$/);
    expect(rows.slice(3).map((r) => r.split(',').slice(11))).toEqual([
      ['t1', '', '1200', '400', '4.00'],
      ['t2', '', '300', '100', '1.00'],
    ]);
  });

  it("names a tenant's own invoice by its mode and tenant on every row", () => {
    const draft = buildInvoice({
      period: APRIL,
      phases: [wholePeriod(planSpec())],
      usage: [usageOf('api_calls', { t9: units(5) })],
    });
    const rows = invoicesCsv([storedInvoice(draft, { tenantId: 't9' })])
      .trimEnd()
      .split('\r\n');
    expect(rows.slice(1).map((r) => r.split(',').slice(2, 4))).toEqual([
      ['tenant', 't9'],
      ['tenant', 't9'],
      ['tenant', 't9'],
    ]);
  });
});
