import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { AppError, PROTO_FILES } from '@metering/contracts';
import { LOGGER, type Logger } from '@metering/observability';
import { API_KEY_SCOPES, type ApiKeyScope } from '@metering/registry-domain';
import { GrpcServer } from '@metering/service-kit';
import { TenantRegistryConfig } from '../config';
import { RegistryService } from '../registry/registry.service';
import { KeyVerifier } from './key-verifier';

/**
 * gRPC `metering.registry.v1.TenantRegistry` (key verification and tenant lookup for other
 * services), started once the app's lifecycle hooks have run and stopped before stores close.
 */
@Injectable()
export class RegistryGrpcServer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly server: GrpcServer;

  constructor(
    private readonly verifier: KeyVerifier,
    private readonly registry: RegistryService,
    private readonly config: TenantRegistryConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.server = new GrpcServer(
      {
        protoPath: PROTO_FILES.registry,
        service: 'metering.registry.v1.TenantRegistry',
        url: `0.0.0.0:${config.GRPC_PORT}`,
      },
      {
        VerifyKey: (request: { key?: string; requiredScope?: string }) => this.verifyKey(request),
        GetTenant: (request: { tenantId?: string }) => this.getTenant(request),
        VerifyManagementKey: (request: { key?: string }) => this.verifyManagementKey(request),
      },
      logger,
    );
  }

  onApplicationBootstrap(): Promise<void> {
    return this.server.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.server.stop();
  }

  private async verifyKey(request: { key?: string; requiredScope?: string }) {
    const scope = API_KEY_SCOPES.find((s: ApiKeyScope) => s === request.requiredScope);
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

  private async verifyManagementKey(request: { key?: string }) {
    const principal = await this.registry.store.authenticate(request.key ?? '');
    return {
      valid: principal !== undefined,
      keyId: principal?.keyId ?? '',
      role: principal?.role ?? '',
      accountId: principal?.accountId ?? '',
      cacheTtlMs: this.config.KEY_CACHE_TTL_MS,
    };
  }

  private async getTenant(request: { tenantId?: string }) {
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
