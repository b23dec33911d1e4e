import fc from 'fast-check';
import { RegistryError, RegistryErrorCode } from './errors';
import { validateLimits } from './limits';
import { decideTenant, evolveTenant, initialTenant, type TenantCommand, type TenantState } from './tenant';

const spec = {
  name: 'Acme',
  profile: {},
  placement: { deploymentModel: 'multi-tenant' as const, hosting: 'platform' as const },
  limits: { maxAgents: 5 },
  features: {},
  retentionDays: 30,
};

function run(commands: TenantCommand[]): TenantState {
  return commands.reduce((state, c) => decideTenant(c, state).reduce(evolveTenant, state), initialTenant);
}

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof RegistryError ? err.code : 'other';
  }
  return undefined;
};

describe(decideTenant.name, () => {
  const created = run([{ kind: 'create', spec }]);

  it('creates an active tenant', () => {
    expect(created).toMatchObject({ exists: true, status: 'active', limits: { maxAgents: 5 } });
  });

  it('suspends, resumes and deletes with retention', () => {
    const deleted = run([
      { kind: 'create', spec },
      { kind: 'suspend' },
      { kind: 'resume' },
      { kind: 'delete', at: '2026-01-01T00:00:00.000Z' },
    ]);
    expect(deleted).toMatchObject({ status: 'deleted', purgeAfter: '2026-01-31T00:00:00.000Z' });
  });

  it.each<[string, TenantCommand[], TenantCommand, RegistryErrorCode]>([
    ['resume an active tenant', [], { kind: 'resume' }, RegistryErrorCode.INVALID_TRANSITION],
    [
      'suspend a suspended tenant',
      [{ kind: 'suspend' }],
      { kind: 'suspend' },
      RegistryErrorCode.INVALID_TRANSITION,
    ],
    [
      'write to a deleted tenant',
      [{ kind: 'delete', at: '2026-01-01T00:00:00Z' }],
      { kind: 'set-limits', limits: { maxAgents: 1 } },
      RegistryErrorCode.TENANT_DELETED,
    ],
    [
      'purge before retention ends',
      [{ kind: 'delete', at: '2026-01-01T00:00:00Z' }],
      { kind: 'purge', at: '2026-01-02T00:00:00Z' },
      RegistryErrorCode.INVALID_TRANSITION,
    ],
    [
      'set an unknown limit',
      [],
      { kind: 'set-limits', limits: { maxUnicorns: 1 } },
      RegistryErrorCode.UNKNOWN_LIMIT,
    ],
    [
      'set a negative limit',
      [],
      { kind: 'set-limits', limits: { maxAgents: -1 } },
      RegistryErrorCode.INVALID_LIMIT,
    ],
  ])('refuses to %s', (_what, before, command, code) => {
    const state = run([{ kind: 'create', spec }, ...before]);
    expect(codeOf(() => decideTenant(command, state))).toBe(code);
  });

  it('emits nothing for a change that changes nothing', () => {
    expect(decideTenant({ kind: 'set-limits', limits: { maxAgents: 5 } }, created)).toEqual([]);
  });

  it('purges a deleted tenant once retention has ended', () => {
    const state = run([
      { kind: 'create', spec },
      { kind: 'delete', at: '2026-01-01T00:00:00.000Z' },
    ]);
    expect(decideTenant({ kind: 'purge', at: '2026-02-01T00:00:00.000Z' }, state)).toEqual([
      { type: 'tenant.purged', data: { purgedAt: '2026-02-01T00:00:00.000Z' } },
    ]);
  });
});

describe(validateLimits.name, () => {
  it('accepts every non-negative integer of a catalog key and refuses everything else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.string()), (value) => {
        const ok = typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
        expect(codeOf(() => validateLimits({ maxWidgets: value }))).toBe(
          ok ? undefined : RegistryErrorCode.INVALID_LIMIT,
        );
      }),
    );
  });
});
