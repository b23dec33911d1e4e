import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { currentContext } from '@metering/observability';
import type { Caller } from '@metering/registry-data-access';
import type { AuthenticatedRequest } from './management-auth.guard';

/** The authenticated caller: a platform admin sees every account, any other key its own only. */
export const CallerOf = createParamDecorator((_: unknown, context: ExecutionContext): Caller => {
  const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal!;
  const { correlationId } = currentContext();
  return {
    scope: principal.accountId ? { accountId: principal.accountId } : 'all-accounts',
    actor: { type: 'management-key', id: principal.keyId },
    ...(correlationId ? { correlationId } : {}),
  };
});
