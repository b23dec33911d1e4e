import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { AppError, type ErrorKind } from '@metering/contracts';
import type { Logger } from '@metering/observability';

const STATUS_OF_KIND: Record<ErrorKind, grpc.status> = {
  invalid: grpc.status.INVALID_ARGUMENT,
  unauthenticated: grpc.status.UNAUTHENTICATED,
  forbidden: grpc.status.PERMISSION_DENIED,
  not_found: grpc.status.NOT_FOUND,
  conflict: grpc.status.FAILED_PRECONDITION,
  too_large: grpc.status.RESOURCE_EXHAUSTED,
  unsupported: grpc.status.UNIMPLEMENTED,
  rate_limited: grpc.status.RESOURCE_EXHAUSTED,
  unavailable: grpc.status.UNAVAILABLE,
};

export interface GrpcServiceOptions {
  protoPath: string;
  /** Fully qualified service name, e.g. `metering.registry.v1.TenantRegistry`. */
  service: string;
  /** host:port to listen on. */
  url: string;
}

export type UnaryHandlers = Record<string, (request: any) => Promise<object>>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * A plain gRPC server (grpc-js) for hot paths: unary handlers, errors mapped once from AppError
 * kinds to gRPC status codes. No per-call framework pipeline.
 */
export class GrpcServer {
  private readonly server = new grpc.Server();
  port?: number;

  constructor(
    private readonly options: GrpcServiceOptions,
    handlers: UnaryHandlers,
    private readonly logger: Logger,
  ) {
    const definition = loadSync(options.protoPath, { keepCase: false, longs: Number, defaults: true });
    const service = (definition[options.service] ?? {}) as grpc.ServiceDefinition;
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const name of Object.keys(service)) {
      const handler = handlers[name];
      if (!handler) throw new Error(`no handler for ${options.service}.${name}`);
      implementation[name] = (
        call: grpc.ServerUnaryCall<unknown, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        handler(call.request).then(
          (reply) => callback(null, reply),
          (err: unknown) => callback(this.toStatus(err)),
        );
      };
    }
    this.server.addService(service, implementation);
  }

  private toStatus(err: unknown): Partial<grpc.StatusObject> {
    if (err instanceof AppError)
      return { code: STATUS_OF_KIND[err.kind], details: `${err.code}: ${err.message}` };
    this.logger.error({ err, service: this.options.service }, 'gRPC call failed');
    return { code: grpc.status.INTERNAL, details: 'internal error' };
  }

  async start(): Promise<void> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(this.options.url, grpc.ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      ),
    );
    this.logger.info({ service: this.options.service, port: this.port }, 'gRPC listening');
  }

  /** Stops taking calls and lets running ones finish (forced after `graceMs`). */
  async stop(graceMs = 5_000): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
