import { checkTenantReadable, oneReadableAccount, readableAccount } from './access';

const admin = { accountId: null };
const owner = { accountId: 'acc_a' };

describe(readableAccount.name, () => {
  it('gives a platform admin what it asks for, every account when it names none', () => {
    expect(readableAccount(admin, 'acc_b')).toBe('acc_b');
    expect(readableAccount(admin)).toBeUndefined();
  });

  it('keeps an account role to its own account and answers another as not found', () => {
    expect(readableAccount(owner)).toBe('acc_a');
    expect(readableAccount(owner, 'acc_a')).toBe('acc_a');
    expect(() => readableAccount(owner, 'acc_b')).toThrow(expect.objectContaining({ kind: 'not_found' }));
  });
});

describe(oneReadableAccount.name, () => {
  it('requires a platform admin to name the account', () => {
    expect(() => oneReadableAccount(admin)).toThrow(
      expect.objectContaining({
        kind: 'invalid',
        details: [expect.objectContaining({ field: 'accountId' })],
      }),
    );
    expect(oneReadableAccount(owner)).toBe('acc_a');
  });
});

describe(checkTenantReadable.name, () => {
  it('answers a tenant of another account, or without entries, as not found', () => {
    expect(checkTenantReadable(owner, 't1', 'acc_a')).toBe('acc_a');
    expect(checkTenantReadable(admin, 't1', 'acc_b')).toBe('acc_b');
    expect(() => checkTenantReadable(owner, 't1', 'acc_b')).toThrow(
      expect.objectContaining({ kind: 'not_found' }),
    );
    expect(() => checkTenantReadable(admin, 't1', null)).toThrow(
      expect.objectContaining({ kind: 'not_found' }),
    );
  });
});
