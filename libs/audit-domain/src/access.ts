import { AppError } from '@metering/contracts';

/** Who is asking: a platform admin (no account) or a role in one account. */
export interface AuditReader {
  accountId: string | null;
}

/**
 * The account whose entries a reader gets: the one asked for, or for an account role its own.
 * Another account's is answered as not found, never as an empty log. Undefined: every account
 * (a platform admin who named none).
 */
export function readableAccount(reader: AuditReader, requested?: string): string | undefined {
  if (reader.accountId === null) return requested;
  if (requested !== undefined && requested !== reader.accountId)
    throw new AppError('not_found', 'account_not_found', `no account ${requested}`, { field: 'accountId' });
  return reader.accountId;
}

/** Like {@link readableAccount}, for requests that concern exactly one account (verify, head, retention). */
export function oneReadableAccount(reader: AuditReader, requested?: string): string {
  const accountId = readableAccount(reader, requested);
  if (accountId === undefined)
    throw new AppError('invalid', 'validation_failed', 'name an accountId', [
      { field: 'accountId', reasons: ['accountId is required for platform admins'] },
    ]);
  return accountId;
}

/** A tenant's log is readable by platform admins and by its own account's roles; otherwise not found. */
export function checkTenantReadable(
  reader: AuditReader,
  tenantId: string,
  tenantAccount: string | null,
): string {
  if (tenantAccount === null || (reader.accountId !== null && reader.accountId !== tenantAccount))
    throw new AppError('not_found', 'tenant_not_found', `no audit log for tenant ${tenantId}`, {
      field: 'tenantId',
    });
  return tenantAccount;
}
