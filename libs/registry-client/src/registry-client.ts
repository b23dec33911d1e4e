import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { AppError, PROTO_FILES } from '@metering/contracts';
import { KeyCache, keyCheckCacheKey } from './key-cache';

export interface KeyCheck {
  valid: boolean;
  tenantId: string;
  accountId: string;
  scopes: string[];
  tenantStatus: string;
  keyId: string;
  reason: string;
}

export interface RegistryClientOptions {
  /** host:port of the registry's gRPC server. */
  url: string;
  /** How long answers are reused; bounded by the registry's own cache TTL. */
  cacheTtlMs: number;
  timeoutMs?: number;
}

type Unary<Req, Res> = (
  request: Req,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, res: Res) => void,
) => void;

interface TenantRegistryStub extends grpc.Client {
  VerifyKey: Unary<{ key: string; requiredScope: string }, KeyCheck>;
}

/**
 * The registry's gRPC API for other services, with a local cache of key checks. Entries can be
 * dropped early (from `registry.events.v1`); otherwise they live `cacheTtlMs`.
 */
export class RegistryClient {
  private readonly stub: TenantRegistryStub;
  private readonly cache: KeyCache<KeyCheck>;

  constructor(private readonly options: RegistryClientOptions) {
    const definition = loadSync(PROTO_FILES.registry, { keepCase: false, longs: Number, defaults: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      metering: {
        registry: {
          v1: { TenantRegistry: new (url: string, creds: grpc.ChannelCredentials) => TenantRegistryStub };
        };
      };
    };
    this.stub = new pkg.metering.registry.v1.TenantRegistry(options.url, grpc.credentials.createInsecure());
    this.cache = new KeyCache(options.cacheTtlMs);
  }

  async verifyKey(secret: string, requiredScope: string): Promise<KeyCheck> {
    const cacheKey = keyCheckCacheKey(secret, requiredScope);
    const cached = this.cache.get(cacheKey);
    if (cached) return cached;
    const answer = await new Promise<KeyCheck>((resolve, reject) =>
      this.stub.VerifyKey(
        { key: secret, requiredScope },
        { deadline: Date.now() + (this.options.timeoutMs ?? 2_000) },
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    ).catch((err: grpc.ServiceError) => {
      throw new AppError(
        'unavailable',
        'registry_unavailable',
        'API keys cannot be verified right now; retry',
        {
          cause: err.details,
        },
      );
    });
    this.cache.set(cacheKey, answer);
    return answer;
  }

  forgetTenant(tenantId: string): void {
    this.cache.forgetTenant(tenantId);
  }

  forgetKey(keyId: string): void {
    this.cache.forgetKey(keyId);
  }

  /** Readiness: the channel to the registry connects. */
  check(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.stub.waitForReady(Date.now() + 2_000, (err) => (err ? reject(err) : resolve())),
    );
  }

  close(): void {
    this.stub.close();
  }
}
