import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction, Socket } from 'node:net';
import { AddressPolicy, hostOf, parseIpAddress } from '@metering/webhooks-domain';

/** `dns.lookup` with `all: true`, or a stand-in (tests resolve names to chosen addresses). */
export type Resolver = (
  hostname: string,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const systemResolver: Resolver = (hostname, callback) => dnsLookup(hostname, { all: true }, callback);

export interface WebhookTransportOptions {
  /** Which addresses requests may reach (SSRF). */
  policy: AddressPolicy;
  /** Whole attempt, from connecting to the end of the (bounded) answer. */
  timeoutMs: number;
  /** Bytes of an answer read (and kept); the connection is closed past them. */
  maxResponseBytes: number;
  resolver?: Resolver;
}

/** What one POST got: a status code, or the reason it got none. */
export interface TransportResult {
  statusCode?: number;
  error?: string;
  latencyMs: number;
  /** The start of the answer's body, at most `maxResponseBytes`, as text. */
  responseBody?: string;
}

/** A destination refused by the address policy. */
class AddressRefusedError extends Error {
  readonly code = 'EADDRREFUSED';
}

/**
 * Outbound HTTP for webhook deliveries. Every address is checked at the moment of connecting —
 * literal hosts before the request, names inside DNS resolution (all resolved addresses must be
 * allowed) and the socket's peer once connected — so a name that resolved to a public address
 * when the endpoint was registered and to an internal one now (DNS rebinding) is refused.
 * No connection reuse (each attempt connects, and is checked, afresh), no redirects followed,
 * one deadline for the whole attempt and a cap on the answer read.
 */
export class WebhookTransport {
  private readonly resolver: Resolver;

  constructor(private readonly options: WebhookTransportOptions) {
    this.resolver = options.resolver ?? systemResolver;
  }

  /**
   * Why requests to the URL's host would be refused now (its literal address or any address its
   * name resolves to), or undefined when they would not. For registration; deliveries check again.
   */
  async destinationProblem(url: URL): Promise<string | undefined> {
    const host = hostOf(url);
    if (parseIpAddress(host)) return this.options.policy.refusal(host);
    try {
      const addresses = await new Promise<LookupAddress[]>((resolve, reject) =>
        this.resolver(host, (err, found) => (err ? reject(err) : resolve(found))),
      );
      if (addresses.length === 0) return `${host} does not resolve`;
      for (const { address } of addresses) {
        const refusal = this.options.policy.refusal(address);
        if (refusal) return `${host}: ${refusal}`;
      }
      return undefined;
    } catch (err) {
      return `${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    }
  }

  /** POSTs `body` to `target`; never throws for anything the network or the receiver does. */
  async post(target: string, headers: Record<string, string>, body: string): Promise<TransportResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const url = new URL(target);
    const host = hostOf(url);
    const refusal = parseIpAddress(host) ? this.options.policy.refusal(host) : undefined;
    if (refusal) return { error: `refused: ${refusal}`, latencyMs: 0 };
    const deadline = AbortSignal.timeout(this.options.timeoutMs);
    try {
      const answer = await this.request(url, headers, body, deadline);
      return { ...answer, latencyMs: elapsed() };
    } catch (err) {
      if (err instanceof AddressRefusedError)
        return { error: `refused: ${err.message}`, latencyMs: elapsed() };
      if (deadline.aborted)
        return { error: `timed out after ${this.options.timeoutMs} ms`, latencyMs: elapsed() };
      const e = err as NodeJS.ErrnoException;
      return { error: e.code ? `${e.code}: ${e.message}` : e.message, latencyMs: elapsed() };
    }
  }

  private request(
    url: URL,
    headers: Record<string, string>,
    body: string,
    signal: AbortSignal,
  ): Promise<{ statusCode: number; responseBody: string }> {
    const { policy, maxResponseBytes } = this.options;
    return new Promise((resolve, reject) => {
      const client = url.protocol === 'https:' ? https : http;
      const req = client.request(url, {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: false,
        lookup: this.checkedLookup(),
        signal,
      });
      req.once('socket', (socket: Socket) => {
        // The peer actually connected to: the last word, whatever resolution said.
        socket.once('connect', () => {
          const peer = socket.remoteAddress;
          const refused = peer === undefined ? 'the peer address is unknown' : policy.refusal(peer);
          if (refused) req.destroy(new AddressRefusedError(refused));
        });
      });
      req.on('error', reject);
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const finish = () => {
          resolve({
            statusCode: res.statusCode ?? 0,
            responseBody: Buffer.concat(chunks).subarray(0, maxResponseBytes).toString('utf8'),
          });
        };
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size >= maxResponseBytes) {
            // Enough read: the rest of an oversized answer is not waited for.
            res.removeAllListeners('data');
            finish();
            req.destroy();
          }
        });
        res.once('end', finish);
        res.on('error', reject);
      });
      req.end(body);
    });
  }

  /** A `lookup` for the request that refuses a name if any address it resolves to is refused. */
  private checkedLookup(): LookupFunction {
    return (hostname, options, callback) => {
      this.resolver(hostname, (err, addresses) => {
        if (err) return callback(err, '', 0);
        const wanted = options.family ? addresses.filter((a) => a.family === options.family) : addresses;
        for (const { address } of addresses) {
          const refusal = this.options.policy.refusal(address);
          if (refusal) return callback(new AddressRefusedError(`${hostname}: ${refusal}`), '', 0);
        }
        if (wanted.length === 0) {
          const missing: NodeJS.ErrnoException = new Error(`${hostname} does not resolve`);
          missing.code = 'ENOTFOUND';
          return callback(missing, '', 0);
        }
        if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, wanted);
        else callback(null, wanted[0].address, wanted[0].family);
      });
    };
  }
}
