import { decideAccount, initialAccount } from './account';
import { RegistryError } from './errors';

const settings = { name: 'Vendor', currency: 'EUR', timezone: 'Europe/Berlin', billingAnchorDay: 15 };

describe(decideAccount.name, () => {
  it('creates an account', () => {
    expect(decideAccount({ kind: 'create', settings }, initialAccount)).toEqual([
      { type: 'account.created', data: { ...settings, status: 'active' } },
    ]);
  });

  it.each([
    ['currency', { ...settings, currency: 'XYZ1' }],
    ['timezone', { ...settings, timezone: 'Mars/Olympus' }],
  ])('refuses an invalid %s, naming the field', (field, bad) => {
    try {
      decideAccount({ kind: 'create', settings: bad }, initialAccount);
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).details).toEqual({ field });
    }
  });
});
