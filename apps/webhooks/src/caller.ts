import { AppError, ID_PATTERN } from '@metering/contracts';
import { currentContext } from '@metering/observability';
import type { ManagementPrincipal } from '@metering/registry-client';
import type { Caller } from '@metering/webhooks-data-access';
import { invalidField } from '@metering/webhooks-domain';

/**
 * The store's caller for a request on `accountId`'s webhooks: a platform admin acts on any
 * account, any other key on its own; another account's path is answered as not found.
 */
export function callerFor(principal: ManagementPrincipal, accountId: string): Caller {
  if (principal.accountId !== null && principal.accountId !== accountId)
    throw new AppError('not_found', 'account_not_found', `no account ${accountId}`);
  if (!ID_PATTERN.test(accountId) || accountId.length > 128)
    throw invalidField('id', ['id must be an account id']);
  const { correlationId } = currentContext();
  return {
    scope: principal.accountId === null ? 'all-accounts' : { accountId: principal.accountId },
    actor: { type: 'management-key', id: principal.keyId },
    ...(correlationId ? { correlationId } : {}),
  };
}
