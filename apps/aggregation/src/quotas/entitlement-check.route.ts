import type { INestApplication } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants';
import { ManagementKeyGuard } from '@metering/registry-client';
import { createValidationPipe, type DirectRoute } from '@metering/service-kit';
import { EntitlementCheckDto } from './entitlement-check.dto';
import { QuotasController } from './quotas.controller';

/**
 * `POST /v1/entitlements/check` answered before express and Nest's router: a product asks it on
 * its own hot path, and Nest's request pipeline cost several times the check itself
 * (docs/decisions.md). It runs what the controller route runs, in the same order — the guard's
 * authentication and role check for `QuotasController.check`, the services' body validation,
 * then `QuotasController.check` itself — so the two answer alike; the controller route still
 * documents the endpoint and answers other spellings of its path.
 */
export function entitlementCheckRoute(app: INestApplication): DirectRoute {
  const guard = app.get(ManagementKeyGuard);
  const controller = app.get(QuotasController);
  // The method itself, as Nest's decorators recorded their metadata on it (never called unbound).
  const check = QuotasController.prototype.check; // eslint-disable-line @typescript-eslint/unbound-method
  const roles = guard.rolesOf(check, QuotasController);
  const validation = createValidationPipe();
  const segments = [
    Reflect.getMetadata(PATH_METADATA, QuotasController) as string,
    Reflect.getMetadata(PATH_METADATA, check) as string,
  ];
  return {
    method: 'POST',
    path: `/${segments.join('/')}`,
    async answer(req, body) {
      const caller = await guard.authenticate(req.headers.authorization, roles);
      const input = (await validation.transform(body, {
        type: 'body',
        metatype: EntitlementCheckDto,
      })) as EntitlementCheckDto;
      return controller.check(input, caller);
    },
  };
}
