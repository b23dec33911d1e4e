import { Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ManagementPrincipal } from '@metering/registry-data-access';
import { ManagementRoleGuard } from '@metering/registry-client';
import { RegistryService } from '../registry/registry.service';

// One way to declare an endpoint's roles and read the caller across services.
export { Allow, type AuthenticatedRequest } from '@metering/registry-client';

/** The registry's own guard: keys are checked against its store directly. */
@Injectable()
export class ManagementAuthGuard extends ManagementRoleGuard {
  constructor(
    reflector: Reflector,
    private readonly registry: RegistryService,
  ) {
    super(reflector);
  }

  protected principalOf(secret: string): Promise<ManagementPrincipal | undefined> {
    return this.registry.store.authenticate(secret);
  }
}
