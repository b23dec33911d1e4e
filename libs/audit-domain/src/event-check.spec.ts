import { randomUUID } from 'node:crypto';
import type { DomainEventEnvelope } from '@metering/contracts';
import { auditProblem } from './event-check';

const event = (patch: Partial<DomainEventEnvelope> = {}): DomainEventEnvelope => ({
  eventId: randomUUID(),
  type: 'tenant.created',
  schemaVersion: 1,
  occurredAt: '2026-01-01T00:00:00Z',
  accountId: 'acc_1',
  aggregateType: 'tenant',
  aggregateId: 'ten_1',
  aggregateVersion: 1,
  actor: { type: 'management-key', id: 'mk_1' },
  source: 'tenant-registry',
  data: {},
  ...patch,
});

describe(auditProblem.name, () => {
  it('accepts a registry event from the registry', () => {
    expect(auditProblem('registry.events.v1', event())).toBeUndefined();
  });

  it.each([
    [{ schemaVersion: 2 }, /^schemaVersion: unsupported/],
    [{ type: 'Tenant Created' }, /^type: .* not a dotted/],
    [{ type: 'invoice.finalized', aggregateType: 'invoice' }, /^type: unknown event invoice.finalized/],
    [{ source: 'billing' }, /^source: registry.events.v1 carries events of tenant-registry/],
    [{ occurredAt: '1969-12-31T23:59:59Z' }, /^occurredAt/],
    [{ actor: { type: 'service' as const, id: 'a\u0000b' } }, /^actor.id: contains a NUL/],
  ])('refuses %j on the registry topic', (patch, reason) => {
    expect(auditProblem('registry.events.v1', event(patch))).toMatch(reason);
  });

  it('takes any well-formed event from a topic it has no catalog for', () => {
    const billing = event({ type: 'invoice.finalized', aggregateType: 'invoice', source: 'billing' });
    expect(auditProblem('billing.events.v1', billing)).toBeUndefined();
    expect(auditProblem('payments.events.v1', { ...billing, source: 'payments' })).toBeUndefined();
  });
});
