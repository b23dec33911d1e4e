import { AppError } from '@metering/contracts';
import type { Caller } from '@metering/billing-data-access';
import { currentContext } from '@metering/observability';
import type { ManagementPrincipal } from '@metering/registry-client';

/** The store's caller for a principal: a platform admin sees every account, any other key its own. */
export function callerOf(principal: ManagementPrincipal): Caller {
  const { correlationId } = currentContext();
  return {
    scope: principal.accountId ? { accountId: principal.accountId } : 'all-accounts',
    actor: { type: 'management-key', id: principal.keyId },
    ...(correlationId ? { correlationId } : {}),
  };
}

/** Another account's path is answered as not found, never as forbidden or empty. */
export function ownAccount(principal: ManagementPrincipal, accountId: string): Caller {
  if (principal.accountId && principal.accountId !== accountId) {
    throw new AppError('not_found', 'account_not_found', `no account ${accountId}`);
  }
  return callerOf(principal);
}
