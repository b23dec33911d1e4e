import fc from 'fast-check';
import { INVOICE_STATUSES, buildInvoice } from './invoice';
import type { Invoice } from './invoice-view';
import {
  STRIPE_INVOICE_EVENTS,
  attributionMetadata,
  decideStripeEvent,
  stripeDrift,
  stripeInvoiceItems,
  type StripeInvoiceEventType,
} from './stripe';
import { APRIL, planSpec, storedInvoice, units, usageOf, wholePeriod } from './test-support/builders';

function finalizedInvoice(): Invoice {
  const draft = buildInvoice({
    period: APRIL,
    phases: [wholePeriod(planSpec({ baseFee: '30.00' }))],
    usage: [usageOf('api_calls', { t1: units(1200), t2: units(300) })],
  });
  return storedInvoice(draft, { status: 'finalized', version: 2, finalizedAt: '' });
}

describe(stripeInvoiceItems.name, () => {
  it('makes one item per line with a deterministic key, minor units and tenant attribution', () => {
    const items = stripeInvoiceItems(finalizedInvoice());
    expect(items).toEqual([
      expect.objectContaining({
        lineNo: 1,
        idempotencyKey: 'invoice:inv_1:item:1',
        amount: 3000,
        currency: 'usd',
        metadata: expect.objectContaining({ kind: 'base_fee', tenants: '0', line_no: '1' }) as unknown,
      }),
      expect.objectContaining({
        lineNo: 2,
        idempotencyKey: 'invoice:inv_1:item:2',
        amount: 500,
        metadata: expect.objectContaining({
          local_invoice_id: 'inv_1',
          meter_key: 'api_calls',
          tenants: '2',
          attribution_0: 't1=400;t2=100',
        }) as unknown,
      }),
    ]);
    expect(items[0].metadata).not.toHaveProperty('attribution_0');
  });
});

describe(attributionMetadata.name, () => {
  it('keeps every value within 500 characters and at most 41 keys', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.stringMatching(/^[a-z0-9_]{1,40}$/), fc.bigInt(-(10n ** 12n), 10n ** 12n)), {
          maxLength: 3000,
        }),
        (pairs) => {
          const out = attributionMetadata(pairs.map(([tenantId, amount]) => ({ tenantId, amount })));
          expect(Object.keys(out).length).toBeLessThanOrEqual(41);
          for (const v of Object.values(out)) expect(v.length).toBeLessThanOrEqual(500);
          const kept = Object.entries(out)
            .filter(([k]) => k.startsWith('attribution_') && k !== 'attribution_truncated')
            .flatMap(([, v]) => v.split(';')).length;
          if (!out.attribution_truncated) expect(kept).toBe(pairs.length);
        },
      ),
    );
  });

  it('says when attribution is cut short', () => {
    const many = Array.from({ length: 4000 }, (_, i) => ({ tenantId: `tenant_${i}`, amount: 12345n }));
    expect(attributionMetadata(many)).toHaveProperty('attribution_truncated', 'true');
  });
});

describe(decideStripeEvent.name, () => {
  it('moves a finalized invoice to paid or void, and records failed payments', () => {
    expect(decideStripeEvent('finalized', 'invoice.paid')).toEqual({ kind: 'paid' });
    expect(decideStripeEvent('finalized', 'invoice.voided')).toEqual({ kind: 'voided' });
    expect(decideStripeEvent('finalized', 'invoice.payment_failed')).toEqual({ kind: 'payment_failed' });
  });

  it('never moves a paid invoice back', () => {
    for (const type of STRIPE_INVOICE_EVENTS) {
      expect(decideStripeEvent('paid', type).kind).toBe('ignored');
    }
  });

  it('reaches the same status whatever order the events arrive in, duplicates included', () => {
    const apply = (status: (typeof INVOICE_STATUSES)[number], type: StripeInvoiceEventType) => {
      const d = decideStripeEvent(status, type);
      return d.kind === 'paid' ? 'paid' : d.kind === 'voided' ? 'void' : status;
    };
    const events = fc.array(fc.constantFrom('invoice.paid' as const, 'invoice.payment_failed' as const), {
      minLength: 1,
    });
    fc.assert(
      fc.property(events, (seq) => {
        const end = seq.reduce(apply, 'finalized' as (typeof INVOICE_STATUSES)[number]);
        expect(end).toBe(seq.includes('invoice.paid') ? 'paid' : 'finalized');
      }),
    );
  });
});

describe(stripeDrift.name, () => {
  const local = { status: 'finalized' as const, total: 3500n, currency: 'USD', customerId: 'cus_1' };
  const remote = { id: 'in_1', status: 'open', total: 3500, currency: 'usd', customer: 'cus_1' };

  it('finds nothing when both agree', () => {
    expect(stripeDrift(local, remote)).toEqual([]);
    expect(stripeDrift({ ...local, status: 'paid' }, { ...remote, status: 'paid' })).toEqual([]);
  });

  it('names each difference', () => {
    expect(stripeDrift(local, { ...remote, status: 'paid', total: 3400, customer: 'cus_2' })).toEqual([
      'status: local finalized, Stripe paid',
      'total: local 3500, Stripe 3400',
      'customer: local cus_1, Stripe cus_2',
    ]);
  });
});
