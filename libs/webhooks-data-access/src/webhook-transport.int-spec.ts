import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AddressPolicy } from '@metering/webhooks-domain';
import { WebhookTransport, type Resolver } from './webhook-transport';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A receiver on 127.0.0.1 that counts what reaches it. */
async function receiver(
  handler: Handler,
): Promise<{ url: string; port: number; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    hits: () => hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Resolves every name to the next of `answers` (the last one repeats): a DNS that changes its mind. */
function dns(...answers: string[]): Resolver {
  let n = 0;
  return (_hostname, callback) => {
    const address = answers[Math.min(n++, answers.length - 1)];
    callback(null, [{ address, family: address.includes(':') ? 6 : 4 }]);
  };
}

const options = { timeoutMs: 2_000, maxResponseBytes: 1_024 };
const strict = (resolver?: Resolver) =>
  new WebhookTransport({ ...options, policy: new AddressPolicy(), resolver });
const loopbackAllowed = (resolver?: Resolver, extra: Partial<typeof options> = {}) =>
  new WebhookTransport({ ...options, ...extra, policy: new AddressPolicy(['127.0.0.0/8']), resolver });

describe(WebhookTransport.name, () => {
  const servers: { close: () => Promise<void> }[] = [];
  const serve = async (handler: Handler) => {
    const server = await receiver(handler);
    servers.push(server);
    return server;
  };

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('POSTs the body with its headers and returns the answer', async () => {
    let seen: { body: string; headers: IncomingMessage['headers']; method?: string } | undefined;
    const server = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen = { body: Buffer.concat(chunks).toString('utf8'), headers: req.headers, method: req.method };
        res.writeHead(204).end();
      });
    });
    const result = await loopbackAllowed().post(`${server.url}/hook?x=1`, { 'x-test': 'yes' }, '{"a":1}');
    expect(result).toMatchObject({ statusCode: 204, responseBody: '' });
    expect(seen).toMatchObject({
      body: '{"a":1}',
      method: 'POST',
      headers: { 'x-test': 'yes', 'content-length': '7' },
    });
  });

  it.each(['127.0.0.1', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '0.0.0.0'])(
    'refuses http://%s without connecting',
    async (host) => {
      const server = await serve((_req, res) => res.end('ok'));
      const result = await strict().post(`http://${host}:${server.port}/`, {}, '{}');
      expect(result.error).toMatch(/^refused: .* is an? (loopback|unspecified) address$/);
      expect(result.statusCode).toBeUndefined();
      expect(server.hits()).toBe(0);
    },
  );

  it('refuses a name that resolves to a private address, and refuses it at delivery when DNS changed since registration', async () => {
    const server = await serve((_req, res) => res.end('ok'));
    // At registration the name points at a public address; when the attempt connects, at loopback.
    const transport = strict(dns('93.184.215.14', '127.0.0.1'));
    const url = new URL(`http://hooks.rebind.test:${server.port}/`);
    expect(await transport.destinationProblem(url)).toBeUndefined();
    const result = await transport.post(url.href, {}, '{}');
    expect(result.error).toBe('refused: hooks.rebind.test: 127.0.0.1 is a loopback address');
    expect(server.hits()).toBe(0);
  });

  it('refuses a name if any of its addresses is refused', async () => {
    const mixed: Resolver = (_h, callback) =>
      callback(null, [
        { address: '93.184.215.14', family: 4 },
        { address: '169.254.169.254', family: 4 },
      ]);
    expect(await strict(mixed).destinationProblem(new URL('http://metadata.test/'))).toBe(
      'metadata.test: 169.254.169.254 is a link-local address',
    );
  });

  it('reaches a name resolving into an allowed network', async () => {
    const server = await serve((_req, res) => res.writeHead(200).end('thanks'));
    const result = await loopbackAllowed(dns('127.0.0.1')).post(
      `http://receiver.test:${server.port}/`,
      {},
      '{}',
    );
    expect(result).toMatchObject({ statusCode: 200, responseBody: 'thanks' });
    expect(server.hits()).toBe(1);
  });

  it('names a host that does not resolve', async () => {
    const none: Resolver = (hostname, callback) => {
      const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
      err.code = 'ENOTFOUND';
      callback(err, []);
    };
    expect(await strict(none).destinationProblem(new URL('https://nowhere.invalid/'))).toBe(
      'nowhere.invalid does not resolve (ENOTFOUND)',
    );
    expect((await strict(none).post('https://nowhere.invalid/', {}, '{}')).error).toMatch(/^ENOTFOUND/);
  });

  it('gives up on a receiver that does not answer within the timeout', async () => {
    const server = await serve(() => undefined);
    const started = Date.now();
    const result = await loopbackAllowed(undefined, { timeoutMs: 300 }).post(server.url, {}, '{}');
    expect(result.error).toBe('timed out after 300 ms');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('bounds the whole attempt, not only the wait for headers', async () => {
    // Headers at once, then a byte now and then: each read is quick, the answer never ends.
    const server = await serve((_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write('.'), 50);
      res.on('close', () => clearInterval(timer));
    });
    const result = await loopbackAllowed(undefined, { timeoutMs: 400 }).post(server.url, {}, '{}');
    expect(result.error).toBe('timed out after 400 ms');
  });

  it('reads at most maxResponseBytes of an answer and stops there', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      // 64 MiB, far more than is read: the transport must not wait for (or keep) it all.
      const chunk = 'x'.repeat(65_536);
      let sent = 0;
      const pump = () => {
        while (sent < 1_024 && res.write(chunk)) sent++;
        if (sent < 1_024) res.once('drain', pump);
        else res.end();
      };
      pump();
    });
    const result = await loopbackAllowed().post(server.url, {}, '{}');
    expect(result.statusCode).toBe(200);
    expect(result.responseBody).toHaveLength(1_024);
    expect(result.latencyMs).toBeLessThan(1_500);
  });

  it('does not follow redirects', async () => {
    const target = await serve((_req, res) => res.end('should not be reached'));
    const redirecting = await serve((_req, res) => res.writeHead(307, { location: target.url }).end());
    const result = await loopbackAllowed().post(redirecting.url, {}, '{}');
    expect(result.statusCode).toBe(307);
    expect(target.hits()).toBe(0);
  });

  it('reports a refused connection', async () => {
    const server = await serve((_req, res) => res.end());
    const { port } = server;
    await server.close();
    const result = await loopbackAllowed().post(`http://127.0.0.1:${port}/`, {}, '{}');
    expect(result.error).toMatch(/^ECONNREFUSED/);
  });
});
