import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import {
  WEBHOOK_ENDPOINT_EVENTS,
  isRfc3339,
  type Actor,
  type DomainEventEnvelope,
  type WebhookDisableReason,
} from '@metering/contracts';
import type { AccountScope, EventStore } from '@metering/event-store';
import {
  SecretBox,
  WebhookError,
  WebhookErrorCode,
  afterAttempt,
  endpointDecider,
  isDeliverable,
  isSubscribed,
  invalidField,
  isSuccessStatus,
  newEndpointState,
  newSigningSecret,
  secretHint,
  shouldDisable,
  webhookBody,
  type DeliveryStep,
  type DisablePolicy,
  type EndpointCommand,
  type EndpointEvent,
  type EndpointState,
  type RetryPolicy,
} from '@metering/webhooks-domain';

/** Who is acting and what they may see. Every store method that serves a request takes it first. */
export interface Caller {
  scope: AccountScope;
  actor: Actor;
  correlationId?: string;
}

/** The delivery worker and the consumer: every account, acting as the service. */
export const DELIVERY_SYSTEM: Caller = {
  scope: 'all-accounts',
  actor: { type: 'system', id: 'webhooks-delivery' },
};

export interface EndpointView {
  id: string;
  accountId: string;
  url: string;
  description: string;
  eventTypes: string[];
  status: 'enabled' | 'disabled';
  disabledReason: WebhookDisableReason | null;
  disabledAt: string | null;
  /** The start of the signing secret, to tell secrets apart; the secret itself is shown once. */
  secretHint: string;
  health: {
    consecutiveFailures: number;
    failingSince: string | null;
    lastError: string | null;
    lastSuccessAt: string | null;
  };
  createdAt: string;
  updatedAt: string;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface DeliveryView {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  status: DeliveryStatus;
  attempts: number;
  /** When the next attempt is due (pending deliveries). */
  nextAttemptAt: string | null;
  /** After this, a failing delivery is not attempted again. */
  expiresAt: string;
  lastStatusCode: number | null;
  lastLatencyMs: number | null;
  lastError: string | null;
  /** For a manual redelivery: the delivery it repeats. */
  redeliveryOf: string | null;
  createdAt: string;
  completedAt: string | null;
}

export interface AttemptView {
  attempt: number;
  startedAt: string;
  finishedAt: string | null;
  outcome: 'in_progress' | 'succeeded' | 'failed' | 'interrupted';
  statusCode: number | null;
  latencyMs: number | null;
  error: string | null;
  responseBody: string | null;
}

/** A delivery a worker has leased for one attempt. */
export interface ClaimedDelivery {
  id: string;
  accountId: string;
  endpointId: string;
  url: string;
  /** Undefined when the sealed secret does not open (the encryption key changed). */
  secret: string | undefined;
  eventId: string;
  eventType: string;
  body: string;
  /** This attempt's number (1 for the first). */
  attempt: number;
  expiresAtMs: number;
  leaseToken: string;
}

/** What an attempt got: a status code, or the reason there was none. */
export interface AttemptResult {
  statusCode?: number;
  error?: string;
  latencyMs: number;
  responseBody?: string;
}

export interface WebhookStoreOptions {
  secrets: SecretBox;
  retry: RetryPolicy;
  disable: DisablePolicy;
  maxEndpointsPerAccount: number;
  /** How long a claimed delivery belongs to its worker; longer than an attempt can take. */
  leaseMs: number;
}

export interface DeliveryPage {
  deliveries: DeliveryView[];
  nextCursor: string | null;
}

type Row = Record<string, unknown>;

const iso = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : null);
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** `timestamptz::text` as Postgres writes it (the cursor keeps its microseconds). */
const TIMESTAMP_TEXT = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?$/;
const newEndpointId = () => `we_${randomBytes(10).toString('hex')}`;

const toEndpoint = (r: Row): EndpointView => ({
  id: r.id as string,
  accountId: r.account_id as string,
  url: r.url as string,
  description: r.description as string,
  eventTypes: r.event_types as string[],
  status: r.status as EndpointView['status'],
  disabledReason: (r.disabled_reason as WebhookDisableReason | null) ?? null,
  disabledAt: iso(r.disabled_at),
  secretHint: r.secret_hint as string,
  health: {
    consecutiveFailures: r.consecutive_failures as number,
    failingSince: iso(r.failing_since),
    lastError: (r.last_error as string | null) ?? null,
    lastSuccessAt: iso(r.last_success_at),
  },
  createdAt: iso(r.created_at)!,
  updatedAt: iso(r.updated_at)!,
});

const stateOf = (r: Row): EndpointState => ({
  id: r.id as string,
  status: r.status as EndpointState['status'],
  url: r.url as string,
  eventTypes: r.event_types as string[],
  description: r.description as string,
  consecutiveFailures: r.consecutive_failures as number,
  failingSince: iso(r.failing_since),
  lastError: (r.last_error as string | null) ?? null,
});

const toDelivery = (r: Row): DeliveryView => ({
  id: r.id as string,
  endpointId: r.endpoint_id as string,
  eventId: r.event_id as string,
  eventType: r.event_type as string,
  status: r.status as DeliveryStatus,
  attempts: r.attempts as number,
  nextAttemptAt: r.status === 'pending' ? iso(r.next_attempt_at) : null,
  expiresAt: iso(r.expires_at)!,
  lastStatusCode: num(r.last_status_code),
  lastLatencyMs: num(r.last_latency_ms),
  lastError: (r.last_error as string | null) ?? null,
  redeliveryOf: (r.redelivery_of as string | null) ?? null,
  createdAt: iso(r.created_at)!,
  completedAt: iso(r.completed_at),
});

const toAttempt = (r: Row): AttemptView => ({
  attempt: r.attempt as number,
  startedAt: iso(r.started_at)!,
  finishedAt: iso(r.finished_at),
  outcome: r.outcome as AttemptView['outcome'],
  statusCode: num(r.status_code),
  latencyMs: num(r.latency_ms),
  error: (r.error as string | null) ?? null,
  responseBody: (r.response_body as string | null) ?? null,
});

/** Rows of an UPDATE or DELETE … RETURNING (the driver answers those as `[rows, count]`). */
async function changed(tx: EntityManager, sql: string, params: unknown[]): Promise<Row[]> {
  const [rows] = await tx.query<[Row[], number]>(sql, params);
  return rows;
}

const encodeCursor = (r: Row) => Buffer.from(JSON.stringify([r.created_text, r.id])).toString('base64url');

/**
 * Whether a cursor's time is one Postgres reads back as `timestamptz`: the form it prints, a real
 * date and time (no 30 February, no year 0) and an offset within ±15:59. A forged cursor with any
 * other would fail in the query (22008): a 500 instead of a 400 naming the cursor.
 */
function isTimestampText(text: string): boolean {
  const m = /^(\d{4})(-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)([+-])(\d{2})(?::(\d{2}))?$/.exec(text);
  if (!m || m[1] === '0000' || Number(m[5]) > 15) return false;
  return isRfc3339(`${m[1]}${m[2]}T${m[3]}${m[4]}${m[5]}:${m[6] ?? '00'}`);
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'string')) {
      const [created, id] = value as [string, string];
      if (TIMESTAMP_TEXT.test(created) && isTimestampText(created) && UUID.test(id)) return [created, id];
    }
  } catch {
    // answered below
  }
  throw invalidField('cursor', ['cursor must be a nextCursor returned by this endpoint']);
}

/** The interval SQL of a duration in milliseconds given as a parameter. */
const interval = (param: string) => `make_interval(secs => ${param}::double precision / 1000)`;

/**
 * The webhooks service's state in Postgres: endpoints (with their lifecycle events through the
 * event store's outbox to `webhooks.events.v1`), deliveries as a durable queue, and the log of
 * every attempt. Request paths run under the caller's row-level-security scope.
 */
export class WebhookStore {
  constructor(
    readonly events: EventStore,
    private readonly options: WebhookStoreOptions,
  ) {}

  // ---- endpoints ----

  async createEndpoint(
    caller: Caller,
    accountId: string,
    input: { url: string; eventTypes: string[]; description: string },
  ): Promise<{ endpoint: EndpointView; secret: string }> {
    const id = newEndpointId();
    const secret = newSigningSecret();
    return this.events.inScope(caller.scope, async (tx) => {
      // One creation at a time per account, so the limit holds under concurrent requests.
      await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
        `webhook_endpoints:${accountId}`,
      ]);
      const [{ n }] = await tx.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM webhook_endpoints WHERE account_id = $1`,
        [accountId],
      );
      const max = this.options.maxEndpointsPerAccount;
      if (n >= max)
        throw new WebhookError(
          WebhookErrorCode.TOO_MANY_ENDPOINTS,
          `account ${accountId} has ${n} webhook endpoints; at most ${max} are allowed`,
        );
      const initial = newEndpointState(id);
      const events = endpointDecider.decide({ type: 'create', ...input }, initial);
      const state = events.reduce((current, e) => endpointDecider.evolve(current, e), initial);
      const [row] = await tx.query<Row[]>(
        `INSERT INTO webhook_endpoints (id, account_id, url, description, event_types, secret_sealed, secret_hint, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'enabled') RETURNING *`,
        [
          id,
          accountId,
          state.url,
          state.description,
          state.eventTypes,
          this.options.secrets.seal(secret, id),
          secretHint(secret),
        ],
      );
      await this.append(tx, caller, accountId, id, events);
      return { endpoint: toEndpoint(row), secret };
    });
  }

  listEndpoints(caller: Caller, accountId: string): Promise<EndpointView[]> {
    return this.events.inScope(caller.scope, async (tx) => {
      const rows = await tx.query<Row[]>(
        `SELECT * FROM webhook_endpoints WHERE account_id = $1 ORDER BY created_at, id`,
        [accountId],
      );
      return rows.map(toEndpoint);
    });
  }

  getEndpoint(caller: Caller, accountId: string, endpointId: string): Promise<EndpointView> {
    return this.events.inScope(caller.scope, async (tx) =>
      toEndpoint(await this.endpointIn(tx, accountId, endpointId)),
    );
  }

  /** Changes subscriptions or description, or enables or disables by hand. */
  updateEndpoint(
    caller: Caller,
    accountId: string,
    endpointId: string,
    changes: Omit<Extract<EndpointCommand, { type: 'update' }>, 'type'>,
  ): Promise<EndpointView> {
    return this.events.inScope(caller.scope, async (tx) => {
      const row = await this.endpointIn(tx, accountId, endpointId, { lock: true });
      return toEndpoint(await this.handle(tx, caller, row, { type: 'update', ...changes }));
    });
  }

  /** Removes the endpoint with its deliveries and their log; pending deliveries are dropped. */
  deleteEndpoint(caller: Caller, accountId: string, endpointId: string): Promise<void> {
    return this.events.inScope(caller.scope, async (tx) => {
      const row = await this.endpointIn(tx, accountId, endpointId, { lock: true });
      await this.append(
        tx,
        caller,
        accountId,
        endpointId,
        endpointDecider.decide({ type: 'delete' }, stateOf(row)),
      );
      await tx.query(`DELETE FROM webhook_endpoints WHERE id = $1`, [endpointId]);
    });
  }

  // ---- deliveries: queue ----

  /**
   * Records one delivery per deliverable event and enabled endpoint of its account subscribed to
   * it (and created before it occurred). A delivery that exists already (the event consumed
   * again) is left alone. Returns how many were added.
   */
  async enqueue(events: readonly DomainEventEnvelope[]): Promise<number> {
    const deliverable = events.filter((e) => isDeliverable(e.type));
    if (deliverable.length === 0) return 0;
    return this.events.inScope(DELIVERY_SYSTEM.scope, async (tx) => {
      const accounts = [...new Set(deliverable.map((e) => e.accountId))];
      const endpoints = await tx.query<Row[]>(
        `SELECT id, account_id, event_types, created_at FROM webhook_endpoints
         WHERE status = 'enabled' AND account_id = ANY($1::text[])`,
        [accounts],
      );
      const planned = new Map<string, [string, string, string, string, string, string]>();
      for (const event of deliverable) {
        const occurredMs = Date.parse(event.occurredAt);
        for (const endpoint of endpoints) {
          if (endpoint.account_id !== event.accountId) continue;
          if (!isSubscribed(endpoint.event_types as string[], event.type)) continue;
          if (occurredMs < (endpoint.created_at as Date).getTime()) continue;
          const key = `${endpoint.id as string}/${event.eventId}`;
          if (!planned.has(key))
            planned.set(key, [
              randomUUID(),
              event.accountId,
              endpoint.id as string,
              event.eventId,
              event.type,
              webhookBody(event),
            ]);
        }
      }
      if (planned.size === 0) return 0;
      const columns = [...planned.values()];
      const inserted = await tx.query<Row[]>(
        `INSERT INTO webhook_deliveries (id, account_id, endpoint_id, event_id, event_type, body, status, expires_at)
         SELECT id, account_id, endpoint_id, event_id, event_type, body, 'pending', now() + ${interval('$7')}
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[])
           AS t (id, account_id, endpoint_id, event_id, event_type, body)
         ON CONFLICT (endpoint_id, event_id) WHERE redelivery_of IS NULL DO NOTHING
         RETURNING id`,
        [...[0, 1, 2, 3, 4, 5].map((i) => columns.map((c) => c[i])), this.options.retry.horizonMs],
      );
      return inserted.length;
    });
  }

  /**
   * Leases up to `limit` due deliveries of enabled endpoints for one attempt each: at most
   * `perEndpoint` per endpoint, counting `inFlight` (what this worker already sends), so one slow
   * endpoint cannot take every slot. The lease moves `next_attempt_at` past `leaseMs`: if the
   * worker dies, the delivery is due again then, and its unfinished attempt is logged as
   * interrupted. Deliveries locked by another worker are skipped.
   */
  async claimDue(options: {
    limit: number;
    perEndpoint: number;
    inFlight: ReadonlyMap<string, number>;
  }): Promise<ClaimedDelivery[]> {
    const { limit, perEndpoint, inFlight } = options;
    if (limit <= 0) return [];
    const saturated = [...inFlight].filter(([, n]) => n >= perEndpoint).map(([id]) => id);
    const claimed = await this.events.inScope(DELIVERY_SYSTEM.scope, async (tx) => {
      const candidates = await tx.query<{ id: string; endpoint_id: string }[]>(
        `SELECT d.id, d.endpoint_id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND e.status = 'enabled'
           AND NOT (d.endpoint_id = ANY($1::text[]))
         ORDER BY d.next_attempt_at LIMIT $2 FOR UPDATE OF d SKIP LOCKED`,
        [saturated, limit * 4],
      );
      const taken = new Map(inFlight);
      const ids: string[] = [];
      for (const { id, endpoint_id } of candidates) {
        if (ids.length >= limit) break;
        const n = taken.get(endpoint_id) ?? 0;
        if (n >= perEndpoint) continue;
        taken.set(endpoint_id, n + 1);
        ids.push(id);
      }
      if (ids.length === 0) return [];
      const leaseToken = randomUUID();
      const rows = await changed(
        tx,
        `UPDATE webhook_deliveries d SET attempts = d.attempts + 1, lease_token = $2,
           next_attempt_at = now() + ${interval('$3')}, updated_at = now()
         FROM webhook_endpoints e WHERE d.id = ANY($1::uuid[]) AND e.id = d.endpoint_id
         RETURNING d.id, d.account_id, d.endpoint_id, d.event_id, d.event_type, d.body, d.attempts, d.expires_at,
           e.url, e.secret_sealed`,
        [ids, leaseToken, this.options.leaseMs],
      );
      await tx.query(
        `UPDATE webhook_attempts SET outcome = 'interrupted', finished_at = now(),
           error = 'the attempt did not finish: its worker stopped or lost its lease'
         WHERE delivery_id = ANY($1::uuid[]) AND outcome = 'in_progress'`,
        [ids],
      );
      await tx.query(
        `INSERT INTO webhook_attempts (delivery_id, account_id, attempt, started_at, outcome)
         SELECT id, account_id, attempts, now(), 'in_progress' FROM webhook_deliveries WHERE id = ANY($1::uuid[])`,
        [ids],
      );
      return rows.map((r) => ({ row: r, leaseToken }));
    });
    return claimed.map(({ row, leaseToken }) => ({
      id: row.id as string,
      accountId: row.account_id as string,
      endpointId: row.endpoint_id as string,
      url: row.url as string,
      secret: this.openSecret(row.secret_sealed as string, row.endpoint_id as string),
      eventId: row.event_id as string,
      eventType: row.event_type as string,
      body: row.body as string,
      attempt: row.attempts as number,
      expiresAtMs: (row.expires_at as Date).getTime(),
      leaseToken,
    }));
  }

  /**
   * Records an attempt's result and moves the delivery on (done, retried after the backoff, or
   * failed past its horizon) — only if the worker still holds its lease. Updates the endpoint's
   * failing streak, and disables the endpoint (with `webhook_endpoint.disabled`) once the streak
   * meets the disable policy. `lost` means another worker took the delivery over, or it is gone.
   */
  async recordAttempt(
    claimed: ClaimedDelivery,
    result: AttemptResult,
    random = Math.random(),
  ): Promise<{ step: DeliveryStep | 'lost'; endpointDisabled: boolean }> {
    const succeeded = result.statusCode !== undefined && isSuccessStatus(result.statusCode);
    const error = succeeded ? null : (result.error ?? `HTTP ${result.statusCode}`);
    const nowMs = Date.now();
    const step = afterAttempt(
      this.options.retry,
      { succeeded, number: claimed.attempt, nowMs, expiresAtMs: claimed.expiresAtMs },
      random,
    );
    return this.events.inScope(DELIVERY_SYSTEM.scope, async (tx) => {
      const moved = await changed(
        tx,
        `UPDATE webhook_deliveries SET status = $3, lease_token = NULL,
           next_attempt_at = COALESCE(to_timestamp($4::double precision / 1000), next_attempt_at),
           last_status_code = $5, last_latency_ms = $6, last_error = $7, updated_at = now(),
           completed_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END
         WHERE id = $1 AND lease_token = $2 AND status = 'pending' RETURNING id`,
        [
          claimed.id,
          claimed.leaseToken,
          step.status,
          step.status === 'pending' ? step.nextAttemptAtMs : null,
          result.statusCode ?? null,
          result.latencyMs,
          error,
        ],
      );
      if (moved.length === 0) return { step: 'lost' as const, endpointDisabled: false };
      await tx.query(
        `UPDATE webhook_attempts SET outcome = $3, finished_at = now(), status_code = $4, latency_ms = $5,
           error = $6, response_body = $7
         WHERE delivery_id = $1 AND attempt = $2`,
        [
          claimed.id,
          claimed.attempt,
          succeeded ? 'succeeded' : 'failed',
          result.statusCode ?? null,
          result.latencyMs,
          error,
          result.responseBody ?? null,
        ],
      );
      if (succeeded) {
        await tx.query(
          `UPDATE webhook_endpoints SET consecutive_failures = 0, failing_since = NULL, last_error = NULL,
             last_success_at = now() WHERE id = $1`,
          [claimed.endpointId],
        );
        return { step, endpointDisabled: false };
      }
      const [endpoint] = await changed(
        tx,
        `UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1,
           failing_since = COALESCE(failing_since, now()), last_error = $2, updated_at = now()
         WHERE id = $1 RETURNING *`,
        [claimed.endpointId, error],
      );
      const health = {
        consecutiveFailures: endpoint.consecutive_failures as number,
        failingSinceMs: (endpoint.failing_since as Date).getTime(),
      };
      if (endpoint.status !== 'enabled' || !shouldDisable(this.options.disable, health, nowMs))
        return { step, endpointDisabled: false };
      await this.handle(tx, DELIVERY_SYSTEM, endpoint, { type: 'disable-failing' });
      return { step, endpointDisabled: true };
    });
  }

  /** Removes finished deliveries (and their attempts) completed longer than `retentionMs` ago. */
  async prune(retentionMs: number, batch = 5_000): Promise<number> {
    return this.events.inScope(DELIVERY_SYSTEM.scope, async (tx) => {
      const rows = await changed(
        tx,
        `DELETE FROM webhook_deliveries WHERE id IN (
           SELECT id FROM webhook_deliveries
           WHERE status <> 'pending' AND completed_at < now() - ${interval('$1')} LIMIT $2)
         RETURNING id`,
        [retentionMs, batch],
      );
      return rows.length;
    });
  }

  // ---- deliveries: log ----

  async listDeliveries(
    caller: Caller,
    accountId: string,
    endpointId: string,
    query: { status?: DeliveryStatus; limit: number; cursor?: string },
  ): Promise<DeliveryPage> {
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    return this.events.inScope(caller.scope, async (tx) => {
      await this.endpointIn(tx, accountId, endpointId);
      const params: unknown[] = [endpointId, query.limit + 1];
      const where = ['endpoint_id = $1'];
      if (query.status) where.push(`status = $${params.push(query.status)}`);
      if (after)
        where.push(
          `(created_at, id) < ($${params.push(after[0])}::timestamptz, $${params.push(after[1])}::uuid)`,
        );
      const rows = await tx.query<Row[]>(
        `SELECT *, created_at::text AS created_text FROM webhook_deliveries WHERE ${where.join(' AND ')}
         ORDER BY created_at DESC, id DESC LIMIT $2`,
        params,
      );
      const page = rows.slice(0, query.limit);
      return {
        deliveries: page.map(toDelivery),
        nextCursor: rows.length > query.limit ? encodeCursor(page[page.length - 1]) : null,
      };
    });
  }

  getDelivery(
    caller: Caller,
    accountId: string,
    endpointId: string,
    deliveryId: string,
  ): Promise<DeliveryView & { attemptLog: AttemptView[] }> {
    return this.events.inScope(caller.scope, async (tx) => {
      await this.endpointIn(tx, accountId, endpointId);
      const delivery = await this.deliveryIn(tx, endpointId, deliveryId);
      const attempts = await tx.query<Row[]>(
        `SELECT * FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt`,
        [deliveryId],
      );
      return { ...toDelivery(delivery), attemptLog: attempts.map(toAttempt) };
    });
  }

  /**
   * A new delivery of a finished delivery's event to the same (enabled) endpoint, due now and with
   * a horizon of its own; the original and its log stay as they were.
   */
  redeliver(
    caller: Caller,
    accountId: string,
    endpointId: string,
    deliveryId: string,
  ): Promise<DeliveryView> {
    return this.events.inScope(caller.scope, async (tx) => {
      const endpoint = await this.endpointIn(tx, accountId, endpointId);
      if (endpoint.status !== 'enabled')
        throw new WebhookError(
          WebhookErrorCode.ENDPOINT_DISABLED,
          `webhook endpoint ${endpointId} is disabled; enable it first`,
        );
      const original = await this.deliveryIn(tx, endpointId, deliveryId);
      if (original.status === 'pending')
        throw new WebhookError(
          WebhookErrorCode.DELIVERY_PENDING,
          `delivery ${deliveryId} is still being attempted (next at ${iso(original.next_attempt_at)})`,
        );
      const [row] = await tx.query<Row[]>(
        `INSERT INTO webhook_deliveries (id, account_id, endpoint_id, event_id, event_type, body, status, expires_at, redelivery_of)
         SELECT $1, account_id, endpoint_id, event_id, event_type, body, 'pending', now() + ${interval('$3')}, id
         FROM webhook_deliveries WHERE id = $2 RETURNING *`,
        [randomUUID(), deliveryId, this.options.retry.horizonMs],
      );
      return toDelivery(row);
    });
  }

  // ---- helpers ----

  private openSecret(sealed: string, endpointId: string): string | undefined {
    try {
      return this.options.secrets.open(sealed, endpointId);
    } catch {
      return undefined;
    }
  }

  /** The account's endpoint, or 404 (another account's endpoint included). */
  private async endpointIn(
    tx: EntityManager,
    accountId: string,
    endpointId: string,
    options: { lock?: boolean } = {},
  ): Promise<Row> {
    const [row] = await tx.query<Row[]>(
      `SELECT * FROM webhook_endpoints WHERE id = $1 AND account_id = $2${options.lock ? ' FOR UPDATE' : ''}`,
      [endpointId, accountId],
    );
    if (!row)
      throw new WebhookError(WebhookErrorCode.ENDPOINT_NOT_FOUND, `no webhook endpoint ${endpointId}`);
    return row;
  }

  private async deliveryIn(tx: EntityManager, endpointId: string, deliveryId: string): Promise<Row> {
    const [row] = UUID.test(deliveryId)
      ? await tx.query<Row[]>(`SELECT * FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2`, [
          deliveryId,
          endpointId,
        ])
      : [];
    if (!row) throw new WebhookError(WebhookErrorCode.DELIVERY_NOT_FOUND, `no delivery ${deliveryId}`);
    return row;
  }

  /** Decides a command on a locked endpoint row, saves the new state and appends its events. */
  private async handle(tx: EntityManager, caller: Caller, row: Row, command: EndpointCommand): Promise<Row> {
    const state = stateOf(row);
    const events = endpointDecider.decide(command, state);
    if (events.length === 0) return row;
    const next = events.reduce((current, e) => endpointDecider.evolve(current, e), state);
    const disabled = events.find(
      (e): e is Extract<EndpointEvent, { type: 'webhook_endpoint.disabled' }> =>
        e.type === WEBHOOK_ENDPOINT_EVENTS.disabled,
    );
    const [saved] = await changed(
      tx,
      `UPDATE webhook_endpoints SET description = $2, event_types = $3, status = $4,
         disabled_reason = $5, disabled_at = $6, consecutive_failures = $7, failing_since = $8, last_error = $9,
         updated_at = now()
       WHERE id = $1 RETURNING *`,
      [
        state.id,
        next.description,
        next.eventTypes,
        next.status,
        next.status === 'disabled' ? (disabled?.data.reason ?? row.disabled_reason) : null,
        next.status === 'disabled' ? (disabled ? new Date() : row.disabled_at) : null,
        next.consecutiveFailures,
        next.failingSince,
        next.lastError,
      ],
    );
    await this.append(tx, caller, row.account_id as string, state.id, events);
    return saved;
  }

  private async append(
    tx: EntityManager,
    caller: Caller,
    accountId: string,
    endpointId: string,
    events: EndpointEvent[],
  ): Promise<void> {
    await this.events.append(tx, {
      streamId: endpointId,
      streamType: 'webhook_endpoint',
      expectedVersion: await this.events.currentVersion(tx, endpointId),
      events,
      context: {
        accountId,
        actor: caller.actor,
        ...(caller.correlationId ? { correlationId: caller.correlationId } : {}),
      },
    });
  }
}
