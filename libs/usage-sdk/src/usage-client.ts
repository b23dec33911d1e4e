import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

/** Media type of a JSON array of structured CloudEvents, as the ingestion service expects it. */
export const CLOUDEVENTS_BATCH_MEDIA_TYPE = 'application/cloudevents-batch+json';

/** Backoff between attempts of one batch. */
export interface RetryOptions {
  /** Shortest wait before a retry. Default 100 ms. */
  initialDelayMs?: number;
  /** Longest wait computed by the backoff (a larger `Retry-After` still wins). Default 10 s. */
  maxDelayMs?: number;
  /** Attempts per event, the first one included. Default 8. */
  maxAttempts?: number;
}

/** Options of {@link UsageClient}. */
export interface UsageClientOptions {
  /** Ingestion service root, e.g. `https://ingest.example.com`; `/v1/events` is appended. */
  baseUrl: string;
  /** Tenant API key, sent as `authorization: Bearer <apiKey>`. */
  apiKey: string;
  /** CloudEvents `source` of every event, e.g. `my-app/backend`. Ids are unique per source. */
  source: string;
  /** Events per request. Must not exceed the server's limit (1,000 by default). Default 500. */
  maxBatch?: number;
  /** Bytes per request body; stays under the server's 1 MiB limit. Default 1,000,000. */
  maxBatchBytes?: number;
  /** How long a partial batch waits for more events before it is sent. Default 200 ms. */
  flushIntervalMs?: number;
  /** Unsettled events (queued, in flight or waiting to retry) above which `track` refuses. Default 100,000. */
  maxQueue?: number;
  /** Requests in flight at once, retries waiting included. Default 4. */
  maxInFlight?: number;
  retry?: RetryOptions;
  /** Per request, from sending to the end of the answer. Default 10 s. */
  timeoutMs?: number;
  /** Replaces the global `fetch`, for tests or custom agents. */
  fetch?: typeof fetch;
  /**
   * Called once for every event that fails, whatever the reason. Lets fire-and-forget callers
   * see failures: promises returned by `track` never cause unhandled-rejection crashes.
   */
  onError?: (error: UsageSdkError) => void;
}

/** One usage event as a producer describes it. */
export interface UsageEvent {
  /** Event type, e.g. `api.call`. */
  type: string;
  /** What the event is about, e.g. an end user id. */
  subject?: string;
  /** Measured values; a JSON object. */
  data: Record<string, unknown>;
  /** Idempotency key; a random UUID when omitted. Reuse it when re-tracking the same occurrence. */
  id?: string;
  /** When the usage happened (RFC 3339 string or Date); now when omitted. */
  time?: Date | string;
}

/** A CloudEvents 1.0 structured event as sent on the wire. */
export interface UsageCloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject?: string;
  time: string;
  data: Record<string, unknown>;
}

/** How the server took an event it kept: `duplicate` means that id was already accepted earlier. */
export interface EventOutcome {
  id: string;
  status: 'accepted' | 'duplicate';
}

/**
 * Why an event failed. Besides these, a non-retryable HTTP answer's own error code is used
 * (e.g. `unauthorized`, `payload_too_large`), or `http_<status>` when the answer names none.
 */
export type UsageSdkErrorCode =
  | 'rejected'
  | 'conflict'
  | 'queue_full'
  | 'closed'
  | 'invalid_event'
  | 'event_too_large'
  | 'attempts_exhausted'
  | 'network_error'
  | 'timeout'
  | 'invalid_response'
  | 'internal'
  | (string & {});

/** Fields of a {@link UsageSdkError} besides its code and message. */
export interface UsageSdkErrorInit {
  reasons?: string[];
  status?: number;
  eventId?: string;
  details?: unknown;
  cause?: unknown;
}

/** The one error type the SDK rejects with. */
export class UsageSdkError extends Error {
  override readonly name = 'UsageSdkError';
  /** Stable, machine-readable cause, see {@link UsageSdkErrorCode}. */
  readonly code: UsageSdkErrorCode;
  /** Per-event reasons given by the server for `rejected` and `conflict`, or by the SDK for `invalid_event`. */
  readonly reasons?: string[];
  /** HTTP status of the answer that decided the failure, when there was one. */
  readonly status?: number;
  /** The event this error is about, when it is about one event. */
  readonly eventId?: string;
  /** `details` of the server's error body. */
  readonly details?: unknown;

  constructor(code: UsageSdkErrorCode, message: string, init: UsageSdkErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = code;
    this.reasons = init.reasons;
    this.status = init.status;
    this.eventId = init.eventId;
    this.details = init.details;
  }
}

interface Pending {
  readonly id: string;
  /** Serialized once, so every retry sends the very payload the server may already hold. */
  readonly json: string;
  readonly bytes: number;
  readonly settle: (outcome: EventOutcome | UsageSdkError) => void;
  /** Resolves, never rejects, once the event's fate is known. */
  readonly settled: Promise<void>;
}

type ServerOutcome = { status: string; id?: string; reasons: string[] };

type SendResult =
  | { kind: 'answered'; outcomes: Map<number, ServerOutcome> }
  | { kind: 'retry'; error: UsageSdkError; retryAfterMs?: number }
  | { kind: 'fatal'; error: UsageSdkError };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const noop = (): void => undefined;

/** The shape the server insists on for `time`; caught here so a bad time fails before any request. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Milliseconds to wait before attempt `attempt + 1`: exponential growth with full jitter, drawn
 * between `initialDelayMs` and `min(maxDelayMs, initialDelayMs · 2^attempt)`.
 * @internal
 */
export function backoffDelayMs(
  attempt: number,
  retry: Required<RetryOptions>,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** attempt);
  return retry.initialDelayMs + random() * Math.max(0, ceiling - retry.initialDelayMs);
}

/**
 * A `Retry-After` header value (delay in seconds or an HTTP date) in milliseconds from `nowMs`.
 * @internal
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** Network trouble, overload and server faults may pass; anything else would fail the same way again. */
const isRetryableStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500;

/**
 * Batches usage events and delivers them to the ingestion service (`POST /v1/events`) with
 * retries. Each event gets its id once, when tracked, and keeps it on every retry; the server
 * answers `duplicate` for ids it already holds, so a retry after a lost answer never counts twice.
 *
 * @example
 * const client = new UsageClient({ baseUrl, apiKey, source: 'my-app/backend' });
 * void client.track({ type: 'api.call', subject: 'user-1', data: { count: 1 } });
 * await client.close();
 */
export class UsageClient {
  private readonly url: URL;
  private readonly maxBatch: number;
  private readonly maxBatchBytes: number;
  private readonly flushIntervalMs: number;
  private readonly maxQueue: number;
  private readonly maxInFlight: number;
  private readonly retry: Required<RetryOptions>;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  /** Tracked events not yet handed to a request. */
  private queue: Pending[] = [];
  /** Every event whose outcome is not known yet, wherever it is. */
  private readonly unsettled = new Set<Pending>();
  private inFlight = 0;
  /** Set when a partial batch should go now (its interval ran out, or a flush asked). */
  private due = false;
  private timer: NodeJS.Timeout | undefined;
  /** A `Retry-After` holds back every request, not just the one that got it. */
  private pausedUntil = 0;
  private closed = false;

  constructor(private readonly options: UsageClientOptions) {
    const base = options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`;
    this.url = new URL('v1/events', base);
    this.maxBatch = positive('maxBatch', options.maxBatch ?? 500);
    this.maxBatchBytes = positive('maxBatchBytes', options.maxBatchBytes ?? 1_000_000);
    this.flushIntervalMs = positive('flushIntervalMs', options.flushIntervalMs ?? 200, 0);
    this.maxQueue = positive('maxQueue', options.maxQueue ?? 100_000);
    this.maxInFlight = positive('maxInFlight', options.maxInFlight ?? 4);
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? 10_000);
    const initialDelayMs = positive('retry.initialDelayMs', options.retry?.initialDelayMs ?? 100, 0);
    this.retry = {
      initialDelayMs,
      maxDelayMs: Math.max(initialDelayMs, options.retry?.maxDelayMs ?? 10_000),
      maxAttempts: positive('retry.maxAttempts', options.retry?.maxAttempts ?? 8),
    };
    this.fetchImpl = options.fetch ?? fetch;
    if (!options.source) throw new TypeError('UsageClient: source is required');
  }

  /** Events tracked whose outcome is not known yet. */
  get pending(): number {
    return this.unsettled.size;
  }

  /**
   * Queues one event for delivery.
   *
   * @returns a promise that resolves when the server accepted the event (or already had it) and
   * rejects with a {@link UsageSdkError} when it was rejected, conflicts with an earlier event of
   * the same id, failed with a non-retryable error, ran out of attempts, or could not be queued
   * (`queue_full`, `closed`, `invalid_event`, `event_too_large`). Ignoring the promise is safe:
   * failures then reach only `onError`.
   */
  track(event: UsageEvent): Promise<EventOutcome> {
    if (this.closed) {
      return this.refuse(new UsageSdkError('closed', 'the client is closed', { eventId: event.id }));
    }
    if (this.unsettled.size >= this.maxQueue) {
      return this.refuse(
        new UsageSdkError('queue_full', `${this.maxQueue} events are waiting for delivery`, {
          eventId: event.id,
        }),
      );
    }
    const built = this.serialize(event);
    if (built instanceof UsageSdkError) return this.refuse(built);
    // The request body wraps events in `[` `]`.
    if (built.bytes + 2 > this.maxBatchBytes) {
      return this.refuse(
        new UsageSdkError('event_too_large', `the event takes more than ${this.maxBatchBytes} bytes`, {
          eventId: built.id,
        }),
      );
    }

    let settle: Pending['settle'] = noop;
    const outcome = new Promise<EventOutcome>((resolve, reject) => {
      settle = (result) => (result instanceof UsageSdkError ? reject(result) : resolve(result));
    });
    const pending: Pending = {
      ...built,
      settle: (result) => {
        if (!this.unsettled.delete(pending)) return;
        if (result instanceof UsageSdkError) this.report(result);
        settle(result);
      },
      // Attaching this handler is also what keeps an ignored rejection from crashing the process.
      settled: outcome.then(noop, noop),
    };
    this.unsettled.add(pending);
    this.queue.push(pending);
    this.drain();
    return outcome;
  }

  /** Sends every queued event now and resolves once all events tracked so far have settled. */
  async flush(): Promise<void> {
    const waiting = [...this.unsettled].map((p) => p.settled);
    this.due = true;
    this.drain();
    await Promise.all(waiting);
  }

  /** Stops accepting events (`track` then rejects with `closed`) and flushes what was tracked. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private refuse(error: UsageSdkError): Promise<EventOutcome> {
    this.report(error);
    const refused = Promise.reject(error);
    refused.catch(noop);
    return refused;
  }

  private report(error: UsageSdkError): void {
    try {
      this.options.onError?.(error);
    } catch {
      // A faulty hook must not stop delivery of other events.
    }
  }

  private serialize(event: UsageEvent): { id: string; json: string; bytes: number } | UsageSdkError {
    const reasons: string[] = [];
    if (typeof event.type !== 'string' || event.type === '') reasons.push('type: must be a non-empty string');
    if (!isRecord(event.data)) reasons.push('data: must be a JSON object');
    if (event.subject !== undefined && (typeof event.subject !== 'string' || event.subject === '')) {
      reasons.push('subject: must be a non-empty string when given');
    }
    if (event.id !== undefined && (typeof event.id !== 'string' || event.id === '')) {
      reasons.push('id: must be a non-empty string when given');
    }
    let time = '';
    if (event.time === undefined) time = new Date().toISOString();
    else if (event.time instanceof Date && !Number.isNaN(event.time.getTime()))
      time = event.time.toISOString();
    else if (
      typeof event.time === 'string' &&
      RFC3339.test(event.time) &&
      !Number.isNaN(Date.parse(event.time))
    ) {
      time = event.time;
    } else reasons.push('time: must be a valid Date or RFC 3339 string');
    if (reasons.length)
      return new UsageSdkError('invalid_event', reasons.join('; '), { reasons, eventId: event.id });

    const cloudEvent: UsageCloudEvent = {
      specversion: '1.0',
      id: event.id ?? randomUUID(),
      source: this.options.source,
      type: event.type,
      ...(event.subject === undefined ? {} : { subject: event.subject }),
      time,
      data: event.data,
    };
    try {
      const json = JSON.stringify(cloudEvent);
      return { id: cloudEvent.id, json, bytes: Buffer.byteLength(json) };
    } catch (err) {
      const reason = `data: not serializable as JSON (${err instanceof Error ? err.message : String(err)})`;
      return new UsageSdkError('invalid_event', reason, { reasons: [reason], eventId: cloudEvent.id });
    }
  }

  /** Starts as many requests as slots allow, for full batches, or partial ones once they are due. */
  private drain(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.takeBatch();
      if (!batch) break;
      this.inFlight += 1;
      void this.deliver(batch).finally(() => {
        this.inFlight -= 1;
        this.drain();
      });
    }
    if (this.queue.length === 0) {
      this.due = false;
      clearTimeout(this.timer);
      this.timer = undefined;
    } else if (!this.due && this.timer === undefined) {
      // Not unref'd: a process that tracks and then ends should still send what it tracked.
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.due = true;
        this.drain();
      }, this.flushIntervalMs);
    }
  }

  private takeBatch(): Pending[] | undefined {
    let count = 0;
    let bytes = 2;
    for (const event of this.queue) {
      const next = bytes + event.bytes + (count > 0 ? 1 : 0);
      if (count === this.maxBatch || next > this.maxBatchBytes) break;
      count += 1;
      bytes = next;
    }
    const full = count < this.queue.length || count === this.maxBatch;
    if (!full && !this.due) return undefined;
    return this.queue.splice(0, count);
  }

  /** Sends one batch until every event in it is settled; never rejects. */
  private async deliver(batch: Pending[]): Promise<void> {
    let remaining = batch;
    let lastError: UsageSdkError | undefined;
    try {
      for (let attempt = 1; attempt <= this.retry.maxAttempts; attempt++) {
        const paused = this.pausedUntil - Date.now();
        if (paused > 0) await sleep(paused);
        const result = await this.send(remaining);
        let delayMs = backoffDelayMs(attempt, this.retry);
        if (result.kind === 'fatal') {
          fail(remaining, result.error);
          return;
        }
        if (result.kind === 'answered') {
          remaining = settleFromAnswer(remaining, result.outcomes);
          if (remaining.length === 0) return;
          lastError = new UsageSdkError('invalid_response', 'the answer gave no outcome for some events');
        } else {
          lastError = result.error;
          if (result.retryAfterMs !== undefined) {
            delayMs = Math.max(delayMs, result.retryAfterMs);
            this.pausedUntil = Math.max(this.pausedUntil, Date.now() + result.retryAfterMs);
          }
        }
        if (attempt < this.retry.maxAttempts) await sleep(delayMs);
      }
      fail(
        remaining,
        new UsageSdkError(
          'attempts_exhausted',
          `gave up after ${this.retry.maxAttempts} attempts: ${lastError?.message ?? 'unknown error'}`,
          { status: lastError?.status, details: lastError?.details, cause: lastError },
        ),
      );
    } catch (err) {
      fail(remaining, new UsageSdkError('internal', 'delivery failed unexpectedly', { cause: err }));
    }
  }

  private async send(events: Pending[]): Promise<SendResult> {
    let status: number;
    let retryAfter: string | null;
    let text: string;
    try {
      const res = await this.fetchImpl(this.url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.options.apiKey}`,
          'content-type': CLOUDEVENTS_BATCH_MEDIA_TYPE,
          accept: 'application/json',
        },
        body: `[${events.map((e) => e.json).join(',')}]`,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      text = await res.text();
    } catch (err) {
      // The server may have taken the events before the connection broke; resending is safe.
      const timedOut = err instanceof Error && err.name === 'TimeoutError';
      return {
        kind: 'retry',
        error: timedOut
          ? new UsageSdkError('timeout', `no answer within ${this.timeoutMs} ms`, { cause: err })
          : new UsageSdkError('network_error', describeNetworkError(err), { cause: err }),
      };
    }

    if (status >= 200 && status < 300) {
      const outcomes = parseOutcomes(text);
      if (outcomes) return { kind: 'answered', outcomes };
      return {
        kind: 'retry',
        error: new UsageSdkError('invalid_response', `unreadable ${status} answer`, { status }),
      };
    }
    const problem = parseProblem(text);
    const error = new UsageSdkError(
      problem?.code ?? `http_${status}`,
      problem?.message ?? `ingestion answered ${status}`,
      { status, details: problem?.details },
    );
    if (!isRetryableStatus(status)) return { kind: 'fatal', error };
    return { kind: 'retry', error, retryAfterMs: parseRetryAfter(retryAfter, Date.now()) };
  }
}

function positive(name: string, value: number, min = 1): number {
  if (!Number.isFinite(value) || value < min) {
    throw new RangeError(`UsageClient: ${name} must be a number ≥ ${min}, got ${value}`);
  }
  return value;
}

function fail(events: Pending[], error: UsageSdkError): void {
  for (const event of events) {
    event.settle(
      new UsageSdkError(error.code, error.message, {
        reasons: error.reasons,
        status: error.status,
        details: error.details,
        cause: error.cause,
        eventId: event.id,
      }),
    );
  }
}

/** Settles the events the answer decided and returns the others, which are sent again. */
function settleFromAnswer(events: Pending[], outcomes: Map<number, ServerOutcome>): Pending[] {
  const left: Pending[] = [];
  events.forEach((event, index) => {
    const outcome = outcomes.get(index);
    if (!outcome || (outcome.id !== undefined && outcome.id !== event.id)) {
      left.push(event);
      return;
    }
    const { status, reasons } = outcome;
    if (status === 'accepted' || status === 'duplicate') {
      event.settle({ id: event.id, status });
    } else if (status === 'rejected' || status === 'conflict') {
      const why = reasons.length ? reasons.join('; ') : 'no reason given';
      event.settle(
        new UsageSdkError(status, `event ${event.id} ${status}: ${why}`, { reasons, eventId: event.id }),
      );
    } else {
      left.push(event);
    }
  });
  return left;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Per-index outcomes of a 202 answer, or undefined when it is not one. */
function parseOutcomes(text: string): Map<number, ServerOutcome> | undefined {
  const body = parseJson(text);
  if (!isRecord(body) || !Array.isArray(body.results)) return undefined;
  const results: unknown[] = body.results;
  const outcomes = new Map<number, ServerOutcome>();
  for (const item of results) {
    if (!isRecord(item) || typeof item.index !== 'number' || typeof item.status !== 'string') continue;
    outcomes.set(item.index, {
      status: item.status,
      id: typeof item.id === 'string' ? item.id : undefined,
      reasons: Array.isArray(item.reasons)
        ? item.reasons.filter((r: unknown): r is string => typeof r === 'string')
        : [],
    });
  }
  return outcomes;
}

function parseProblem(text: string): { code: string; message?: string; details?: unknown } | undefined {
  const body = parseJson(text);
  if (!isRecord(body) || !isRecord(body.error) || typeof body.error.code !== 'string') return undefined;
  const { code, message, details } = body.error;
  return { code, message: typeof message === 'string' ? message : undefined, details };
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause: unknown = err.cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
}
