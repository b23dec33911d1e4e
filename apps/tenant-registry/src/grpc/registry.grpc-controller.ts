import { Controller } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { AppError } from '@metering/contracts';
import { API_KEY_SCOPES, type ApiKeyScope } from '@metering/registry-domain';
import { TenantRegistryConfig } from '../config';
import { RegistryService } from '../registry/registry.service';
import { KeyVerifier } from './key-verifier';

interface VerifyKeyRequest {
  key: string;
  requiredScope: string;
}

/** gRPC `metering.registry.v1.TenantRegistry`: key verification and tenant lookup for other services. */
@Controller()
export class RegistryGrpcController {
  constructor(
    private readonly verifier: KeyVerifier,
    private readonly registry: RegistryService,
    private readonly config: TenantRegistryConfig,
  ) {}

  @GrpcMethod('TenantRegistry', 'VerifyKey')
  async verifyKey(request: VerifyKeyRequest) {
    const scope = API_KEY_SCOPES.includes(request.requiredScope as ApiKeyScope)
      ? (request.requiredScope as ApiKeyScope)
      : undefined;
    const result = await this.verifier.verify(request.key ?? '', scope);
    return {
      valid: result.valid,
      tenantId: result.tenantId ?? '',
      accountId: result.accountId ?? '',
      scopes: result.scopes ?? [],
      tenantStatus: result.tenantStatus ?? '',
      cacheTtlMs: this.config.KEY_CACHE_TTL_MS,
      keyId: result.keyId ?? '',
      reason: result.reason ?? '',
    };
  }

  @GrpcMethod('TenantRegistry', 'GetTenant')
  async getTenant(request: { tenantId: string }) {
    if (!request.tenantId) throw new AppError('invalid', 'validation_failed', 'tenant_id is required');
    const tenant = await this.registry.store.getTenant(
      { scope: 'all-accounts', actor: { type: 'service', id: 'grpc' } },
      request.tenantId,
    );
    return {
      id: tenant.id,
      accountId: tenant.accountId,
      name: tenant.name,
      status: tenant.status,
      limits: tenant.limits,
      features: tenant.features,
    };
  }
}
