import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake received, as parsed. */
export interface StripeRequest {
  method: string;
  path: string;
  params: Record<string, unknown>;
  idempotencyKey?: string;
  /** Answered from the stored response of an earlier request with the same key. */
  replayed: boolean;
  /** Applied, then the connection was closed without an answer. */
  dropped: boolean;
}

type StripeObject = Record<string, unknown> & { id: string; object: string };
type Match = (request: { method: string; path: string; idempotencyKey?: string }) => boolean;

interface Answer {
  status: number;
  body: unknown;
}

/**
 * Sets `a[b][c]=v` form fields (how stripe-node encodes parameters) into nested objects; numeric
 * segments stay object keys.
 */
function parseForm(body: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const path = key.replace(/\]/g, '').split('[');
    let node = out;
    for (const segment of path.slice(0, -1)) {
      node = (node[segment] ??= {}) as Record<string, unknown>;
    }
    node[path[path.length - 1]] = value;
  }
  return out;
}

const stripeError = (status: number, type: string, message: string): Answer => ({
  status,
  body: { error: { type, message } },
});

/**
 * A local stand-in for Stripe's API for the real stripe-node SDK (its `host`/`port`/`protocol`
 * options): customers, invoices (create, finalize, retrieve) and invoice items. It checks what
 * Stripe checks — the secret key, an Idempotency-Key on every POST, a key reused with other
 * parameters — and records every problem in `problems`; it replays the stored answer for a
 * repeated key, and can drop an answer after applying the request, as a lost response.
 */
export class FakeStripe {
  readonly requests: StripeRequest[] = [];
  readonly problems: string[] = [];
  private readonly objects = new Map<string, StripeObject>();
  private readonly idempotent = new Map<string, { fingerprint: string; answer: Answer }>();
  private readonly drops: { match: Match; times: number }[] = [];
  private readonly counters = new Map<string, number>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly secretKey: string,
  ) {}

  static async start(secretKey: string): Promise<FakeStripe> {
    const handler: { fake?: FakeStripe } = {};
    const server = createServer((req, res) => void handler.fake!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    handler.fake = new FakeStripe(server, `http://127.0.0.1:${port}`, secretKey);
    return handler.fake;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }

  /** Applies the next `times` matching requests but closes the connection instead of answering. */
  dropResponse(match: Match, times = 1): void {
    this.drops.push({ match, times });
  }

  /** Stored objects of one kind (`customer`, `invoice`, `invoiceitem`), in creation order. */
  list(kind: string): StripeObject[] {
    return [...this.objects.values()].filter((o) => o.object === kind);
  }

  get(id: string): StripeObject | undefined {
    return this.objects.get(id);
  }

  /** Changes an invoice as if done in Stripe's dashboard (reconciliation tests). */
  patch(id: string, changes: Record<string, unknown>): void {
    Object.assign(this.objects.get(id)!, changes);
  }

  /** Mutations applied (not replays), by path pattern: how many Stripe objects a test caused. */
  applied(method: string, path: RegExp): StripeRequest[] {
    return this.requests.filter((r) => r.method === method && path.test(r.path) && !r.replayed);
  }

  private nextId(prefix: string): string {
    const n = (this.counters.get(prefix) ?? 0) + 1;
    this.counters.set(prefix, n);
    return `${prefix}_fake${String(n).padStart(6, '0')}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const params =
      method === 'GET' ? parseForm(url.search.slice(1)) : parseForm(Buffer.concat(chunks).toString());
    const header = req.headers['idempotency-key'];
    const idempotencyKey = typeof header === 'string' ? header : undefined;
    const record: StripeRequest = {
      method,
      path: url.pathname,
      params,
      ...(idempotencyKey ? { idempotencyKey } : {}),
      replayed: false,
      dropped: false,
    };
    this.requests.push(record);

    let answer: Answer;
    if (req.headers.authorization !== `Bearer ${this.secretKey}`) {
      this.problems.push(`${method} ${url.pathname}: bad Authorization header`);
      answer = stripeError(401, 'invalid_request_error', 'Invalid API Key provided');
    } else if (method === 'POST' && !idempotencyKey) {
      this.problems.push(`${method} ${url.pathname}: no Idempotency-Key`);
      answer = stripeError(
        400,
        'invalid_request_error',
        'this fake requires an Idempotency-Key on every POST',
      );
    } else if (method === 'POST' && idempotencyKey && this.idempotent.has(idempotencyKey)) {
      const stored = this.idempotent.get(idempotencyKey)!;
      const fingerprint = JSON.stringify([method, url.pathname, params]);
      if (stored.fingerprint === fingerprint) {
        record.replayed = true;
        answer = stored.answer;
      } else {
        this.problems.push(`${method} ${url.pathname}: key ${idempotencyKey} reused with other parameters`);
        answer = stripeError(
          400,
          'idempotency_error',
          'Keys for idempotent requests can only be used with the same parameters they were first used with.',
        );
      }
    } else {
      answer = this.apply(method, url.pathname, params);
      if (method === 'POST' && idempotencyKey) {
        this.idempotent.set(idempotencyKey, {
          fingerprint: JSON.stringify([method, url.pathname, params]),
          answer,
        });
      }
    }

    const drop = this.drops.find(
      (d) => d.times > 0 && d.match({ method, path: url.pathname, idempotencyKey }),
    );
    if (drop) {
      drop.times -= 1;
      record.dropped = true;
      req.socket.destroy();
      return;
    }
    res.writeHead(answer.status, {
      'content-type': 'application/json',
      'request-id': `req_${this.requests.length}`,
      ...(record.replayed ? { 'idempotent-replayed': 'true' } : {}),
    });
    res.end(JSON.stringify(answer.body));
  }

  private apply(method: string, path: string, params: Record<string, unknown>): Answer {
    const created = Math.floor(Date.now() / 1000);
    const ok = (body: StripeObject): Answer => ({ status: 200, body });
    const invoiceMatch = /^\/v1\/invoices\/([^/]+)(\/finalize)?$/.exec(path);
    if (method === 'POST' && path === '/v1/customers') {
      const customer = { id: this.nextId('cus'), object: 'customer', created, metadata: {}, ...params };
      this.objects.set(customer.id, customer);
      return ok(customer);
    }
    if (method === 'POST' && path === '/v1/invoices') {
      if (!params.customer || !this.objects.has(params.customer as string)) {
        return stripeError(400, 'invalid_request_error', `No such customer: '${String(params.customer)}'`);
      }
      const invoice: StripeObject = {
        metadata: {},
        ...params,
        id: this.nextId('in'),
        object: 'invoice',
        created,
        status: 'draft',
        total: 0,
        amount_due: 0,
        auto_advance: params.auto_advance === 'true',
        lines: { object: 'list', data: [], has_more: false, url: '/v1/invoices/lines' },
      };
      this.objects.set(invoice.id, invoice);
      return ok(invoice);
    }
    if (method === 'POST' && path === '/v1/invoiceitems') {
      const invoice = this.objects.get(params.invoice as string);
      if (!invoice || invoice.status !== 'draft') {
        return stripeError(400, 'invalid_request_error', `Invoice ${String(params.invoice)} is not a draft`);
      }
      if (invoice.currency !== params.currency) {
        return stripeError(400, 'invalid_request_error', 'currency differs from the invoice');
      }
      const item: StripeObject = {
        metadata: {},
        ...params,
        id: this.nextId('ii'),
        object: 'invoiceitem',
        amount: Number(params.amount),
        quantity: 1,
        date: created,
      };
      this.objects.set(item.id, item);
      invoice.total = (invoice.total as number) + (item.amount as number);
      invoice.amount_due = invoice.total;
      return ok(item);
    }
    if (invoiceMatch) {
      const invoice = this.objects.get(invoiceMatch[1]);
      if (!invoice || invoice.object !== 'invoice') {
        return stripeError(404, 'invalid_request_error', `No such invoice: '${invoiceMatch[1]}'`);
      }
      if (method === 'GET' && !invoiceMatch[2]) return ok(invoice);
      if (method === 'POST' && invoiceMatch[2]) {
        if (invoice.status !== 'draft') {
          return stripeError(400, 'invalid_request_error', 'This invoice is already finalized');
        }
        invoice.status = 'open';
        if (params.auto_advance !== undefined) invoice.auto_advance = params.auto_advance === 'true';
        return ok(invoice);
      }
    }
    this.problems.push(`${method} ${path}: not served by this fake`);
    return stripeError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path})`);
  }

  /**
   * A Stripe event about one of its invoices, as its webhook would send it; `paid`/`voided` also
   * change the invoice here, as they would in Stripe.
   */
  invoiceEvent(
    type: 'invoice.paid' | 'invoice.payment_failed' | 'invoice.voided',
    invoiceId: string,
  ): Record<string, unknown> & { id: string } {
    const invoice = this.objects.get(invoiceId)!;
    if (type === 'invoice.paid') invoice.status = 'paid';
    if (type === 'invoice.voided') invoice.status = 'void';
    if (type === 'invoice.payment_failed')
      invoice.attempt_count = ((invoice.attempt_count as number) ?? 0) + 1;
    return {
      id: this.nextId('evt'),
      object: 'event',
      api_version: '2025-01-01',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
      data: { object: structuredClone(invoice) },
    };
  }
}
