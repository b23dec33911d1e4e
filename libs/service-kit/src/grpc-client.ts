import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

type UnaryMethod = (
  request: unknown,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, res: unknown) => void,
) => void;

/** A client of one of the platform's gRPC services: unary calls with a deadline, readiness, close. */
export class GrpcClient {
  private readonly stub: grpc.Client & Record<string, UnaryMethod>;

  /** `service` is fully qualified, e.g. `metering.usage.v1.Usage`. */
  constructor(protoPath: string, service: string, url: string) {
    const definition = loadSync(protoPath, { keepCase: false, longs: Number, defaults: true });
    const Stub = grpc.makeClientConstructor(
      definition[service] as grpc.ServiceDefinition,
      service,
    ) as unknown as new (
      url: string,
      creds: grpc.ChannelCredentials,
    ) => grpc.Client & Record<string, UnaryMethod>;
    this.stub = new Stub(url, grpc.credentials.createInsecure());
  }

  /** Calls `method`; rejects with the gRPC ServiceError (its `details` say why). */
  unary<Res>(method: string, request: object, timeoutMs: number): Promise<Res> {
    return new Promise<Res>((resolve, reject) =>
      this.stub[method].call(this.stub, request, { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res as Res),
      ),
    );
  }

  /** Readiness: the channel connects within two seconds. */
  check(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.stub.waitForReady(Date.now() + 2_000, (err) => (err ? reject(err) : resolve())),
    );
  }

  close(): void {
    this.stub.close();
  }
}
