import {
  type CanActivate,
  type ExecutionContext,
  Injectable,
  SetMetadata,
  createParamDecorator,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { AppError, type Role } from '@metering/contracts';
import { enrichContext } from '@metering/observability';
import { RegistryClient, type ManagementPrincipal } from './registry-client';

const ALLOWED_ROLES = 'allowedRoles';

/** Declares which roles may call an endpoint; an endpoint without it refuses everyone. */
export const Allow = (...roles: readonly Role[]) => SetMetadata(ALLOWED_ROLES, roles);

export interface AuthenticatedRequest extends Request {
  principal?: ManagementPrincipal;
}

/** The management principal a guarded request was authenticated as. */
export const Principal = createParamDecorator(
  (_: unknown, context: ExecutionContext): ManagementPrincipal => {
    const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal;
    if (!principal)
      throw new AppError('unauthenticated', 'unauthenticated', 'a valid management key is required');
    return principal;
  },
);

/**
 * Management-key authentication (`Authorization: Bearer mk_…`) and the endpoint's role check;
 * subclasses say how a secret is verified. Sets `request.principal`.
 */
export abstract class ManagementRoleGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  protected abstract principalOf(secret: string): Promise<ManagementPrincipal | null | undefined>;

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    req.principal = await this.authenticate(
      req.headers.authorization,
      this.rolesOf(context.getHandler(), context.getClass()),
    );
    return true;
  }

  /** The roles `@Allow` declares for a controller's method (the method's own, else the class's). */
  rolesOf(
    handler: ReturnType<ExecutionContext['getHandler']>,
    controller: ReturnType<ExecutionContext['getClass']>,
  ): Role[] | undefined {
    return this.reflector.getAllAndOverride<Role[] | undefined>(ALLOWED_ROLES, [handler, controller]);
  }

  /**
   * The principal of an `Authorization` header, if its role is one of `allowed`; refuses
   * (401/403) otherwise. What the guard does for a controller route, for routes answered
   * before Nest's router as well.
   */
  async authenticate(
    authorization: string | undefined,
    allowed: readonly Role[] | undefined,
  ): Promise<ManagementPrincipal> {
    if (!allowed) throw new AppError('forbidden', 'forbidden', 'this endpoint declares no roles');
    const [scheme, secret] = (authorization ?? '').split(' ');
    const principal = scheme === 'Bearer' && secret ? await this.principalOf(secret) : null;
    if (!principal)
      throw new AppError('unauthenticated', 'unauthenticated', 'a valid management key is required');
    if (!allowed.includes(principal.role)) {
      throw new AppError('forbidden', 'forbidden', `role ${principal.role} may not do this`);
    }
    enrichContext(principal.accountId ? { accountId: principal.accountId } : {});
    return principal;
  }
}

/** For services other than the registry: keys are checked through the registry's gRPC (cached). */
@Injectable()
export class ManagementKeyGuard extends ManagementRoleGuard {
  constructor(
    reflector: Reflector,
    private readonly registry: RegistryClient,
  ) {
    super(reflector);
  }

  protected principalOf(secret: string): Promise<ManagementPrincipal | null> {
    return this.registry.verifyManagementKey(secret);
  }
}
