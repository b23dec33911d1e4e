import { type CanActivate, type ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { AppError } from '@metering/contracts';
import { enrichContext } from '@metering/observability';
import type { ManagementPrincipal } from '@metering/registry-data-access';
import type { Role } from '@metering/registry-domain';
import { RegistryService } from '../registry/registry.service';

const ALLOWED_ROLES = 'allowedRoles';

/** Declares which roles may call an endpoint; an endpoint without it refuses everyone. */
export const Allow = (...roles: readonly Role[]) => SetMetadata(ALLOWED_ROLES, roles);

export interface AuthenticatedRequest extends Request {
  principal?: ManagementPrincipal;
}

/** Management-key authentication (`Authorization: Bearer mk_…`) and the endpoint's role check. */
@Injectable()
export class ManagementAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly registry: RegistryService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const allowed = this.reflector.getAllAndOverride<Role[] | undefined>(ALLOWED_ROLES, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!allowed) throw new AppError('forbidden', 'forbidden', 'this endpoint declares no roles');
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const [scheme, secret] = (req.header('authorization') ?? '').split(' ');
    const principal =
      scheme === 'Bearer' && secret ? await this.registry.store.authenticate(secret) : undefined;
    if (!principal)
      throw new AppError('unauthenticated', 'unauthenticated', 'a valid management key is required');
    if (!allowed.includes(principal.role)) {
      throw new AppError('forbidden', 'forbidden', `role ${principal.role} may not do this`);
    }
    req.principal = principal;
    if (principal.accountId) enrichContext({ accountId: principal.accountId });
    return true;
  }
}
