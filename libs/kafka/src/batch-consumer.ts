import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import type { TopicContract } from '@metering/contracts';
import type { KafkaClient } from './kafka-client';
import type { RawMessage } from './typed-producer';

export interface ConsumedMessage<T> {
  value: T;
  key: string | null;
  headers: Record<string, string>;
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
}

export interface BatchContext {
  topic: string;
  partition: number;
  heartbeat(): Promise<void>;
}

/**
 * Writes a batch durably. Throwing leaves the batch uncommitted: it is retried here and, if it
 * keeps failing, delivered again after the consumer restarts. Handlers must be idempotent.
 */
export type BatchHandler<T> = (
  messages: ConsumedMessage<T>[],
  context: BatchContext,
) => Promise<void | BatchVerdict<T>>;

/** Messages the handler refused on their merits (not a failure to write): dead-lettered with the reason. */
export interface BatchVerdict<T> {
  deadLetter: { message: ConsumedMessage<T>; reason: string }[];
}

export interface BatchConsumerOptions<T extends object> {
  groupId: string;
  /** The topic to consume; or `topics`, several with the same value type, each with its own dead-letter topic. */
  topic?: TopicContract<T>;
  topics?: readonly TopicContract<T>[];
  handler: BatchHandler<T>;
  /** Where a new group starts. Default: earliest, so nothing published before the first start is skipped. */
  fromBeginning?: boolean;
  /** Attempts of the handler per batch before the batch is given up to a consumer restart. */
  maxAttempts?: number;
  retryBackoffMs?: number;
  sessionTimeoutMs?: number;
  maxBytesPerPartition?: number;
  /** A fetch waits (up to maxWaitTimeMs) until this much data is there: fewer, larger batches. */
  minBytes?: number;
  /** Longest a fetch waits for data; also bounds how long stop() waits for an idle fetch. */
  maxWaitTimeMs?: number;
  /**
   * How many partitions' batches the handler may be given at once (default 1). Each partition's
   * batches still go one after another and each is committed after its own handler call; a
   * handler can then write concurrent batches together (see `GroupCommit`).
   */
  partitionsConcurrently?: number;
  /**
   * Fetch ahead of the handler: a batch is handed over and the next fetch of its partition made
   * at once, while up to this many bytes of message values wait for their handler (default 0:
   * each batch is handled and committed before its partition is fetched again). Commits keep
   * their meaning: a batch is committed only once it and every earlier batch of its partition
   * were handled. A batch that fails for good restarts the consumer from the committed offsets,
   * so everything after it is delivered again. For handlers that gather many batches into one
   * write (see `GroupCommit`'s `lingerMs`), which one fetch at a time would starve.
   */
  fetchAheadBytes?: number;
}

export const DLQ_HEADERS = {
  reason: 'x-dlq-reason',
  topic: 'x-dlq-source-topic',
  partition: 'x-dlq-source-partition',
  offset: 'x-dlq-source-offset',
  group: 'x-dlq-consumer-group',
} as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function headersOf(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.map(String).join(',') : String(v);
  }
  return out;
}

type Parsed<T> = { ok: true; message: ConsumedMessage<T> } | { ok: false; reason: string };

/**
 * Values are UTF-8 JSON. Bytes that are not UTF-8 are refused: `Buffer.toString` would read them
 * as U+FFFD and pass an altered event on. The BOM is kept, so JSON.parse refuses it as before.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Consumes one topic in batches with manual offset commits: each batch's invalid messages go to
 * the topic's dead-letter topic with the reason, the valid ones to the handler, and only after
 * both are durable is the offset committed. A poison message never blocks its partition.
 */
export class BatchConsumer<T extends object> {
  private consumer?: Consumer;
  private starting?: Promise<void>;
  private joined = false;
  private crash?: Error;
  /** Restarts after crashes kafkajs gives up on, since the last successful join. */
  private restarts = 0;
  private restartTimer?: NodeJS.Timeout;
  private readonly contracts: ReadonlyMap<string, TopicContract<T>>;
  /** Fetching ahead: per topic-partition, whether its latest batch was handled and committed. */
  private readonly chains = new Map<string, Promise<boolean>>();
  /** Fetching ahead: batches handed over and not yet committed, and their bytes. */
  private readonly ahead = new Set<Promise<void>>();
  private aheadBytes = 0;
  /** Set while stop() lets the batches handed over finish: new ones are left to the next owner. */
  private stopping = false;

  constructor(
    private readonly client: KafkaClient,
    private readonly kafka: Kafka,
    private readonly options: BatchConsumerOptions<T>,
  ) {
    const topics = [...(options.topic ? [options.topic] : []), ...(options.topics ?? [])];
    if (topics.length === 0) throw new Error(`consumer ${options.groupId} names no topic`);
    this.contracts = new Map(topics.map((t) => [t.name, t]));
  }

  async start(): Promise<void> {
    this.starting ??= this.run();
    return this.starting;
  }

  private async run(): Promise<void> {
    const { groupId } = this.options;
    const sessionTimeout = this.options.sessionTimeoutMs ?? this.client.options.sessionTimeoutMs ?? 30_000;
    const consumer = this.kafka.consumer({
      groupId,
      sessionTimeout,
      // A join waits at most this long for members that do not come back (e.g. a killed process).
      rebalanceTimeout: 2 * sessionTimeout,
      heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeout / 3)),
      maxBytesPerPartition: this.options.maxBytesPerPartition ?? 1_048_576,
      maxWaitTimeInMs: this.options.maxWaitTimeMs ?? 1_000,
      minBytes: this.options.minBytes ?? 1,
      allowAutoTopicCreation: true,
      retry: { retries: 5, initialRetryTime: 300 },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.joined = true;
      this.crash = undefined;
      this.restarts = 0;
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.joined = false;
      this.client.logger.error({ err: payload.error, groupId, restart: payload.restart }, 'consumer crashed');
      if (!payload.restart && this.consumer === consumer) this.restartLater(payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({
      topics: [...this.contracts.keys()],
      fromBeginning: this.options.fromBeginning ?? true,
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConcurrently ?? 1,
      eachBatch: (payload) => this.processBatch(payload),
    });
  }

  /**
   * kafkajs leaves a consumer down after an error it deems not retriable (e.g. a coordinator
   * refusing a request mid-rebalance); a service whose consumer stays down consumes nothing while
   * it looks alive. So a new consumer starts after a backoff (1 s doubling to 60 s), and readiness
   * reports the crash until it has joined its group.
   */
  private restartLater(error: Error): void {
    this.crash = error;
    const crashed = this.consumer;
    const delayMs = Math.min(60_000, 1_000 * 2 ** this.restarts++);
    this.client.logger.warn({ groupId: this.options.groupId, delayMs }, 'restarting the consumer');
    this.restartTimer = setTimeout(() => {
      if (this.consumer !== crashed) return;
      this.consumer = undefined;
      this.starting = undefined;
      crashed?.disconnect().catch(() => undefined);
      this.start().catch((err: unknown) => {
        if (this.consumer !== undefined) this.restartLater(err as Error);
      });
    }, delayMs);
  }

  /** Stops fetching, lets the batches handed over finish and commit, then leaves the group. */
  async stop(): Promise<void> {
    clearTimeout(this.restartTimer);
    const consumer = this.consumer;
    if (!consumer) return;
    this.stopping = true;
    try {
      consumer.pause([...this.contracts.keys()].map((topic) => ({ topic })));
      // Commits need the consumer running: batches fetched ahead are settled before it stops.
      while (this.ahead.size > 0) await Promise.allSettled([...this.ahead]);
    } finally {
      this.stopping = false;
    }
    this.consumer = undefined;
    this.starting = undefined;
    this.joined = false;
    await consumer.disconnect();
  }

  /** Readiness: the consumer has joined its group and has not crashed for good. */
  check(): Promise<void> {
    if (this.crash)
      return Promise.reject(new Error(`consumer ${this.options.groupId} crashed: ${this.crash.message}`));
    if (!this.joined)
      return Promise.reject(new Error(`consumer ${this.options.groupId} has not joined its group`));
    return Promise.resolve();
  }

  private parse(
    message: KafkaMessage,
    contract: TopicContract<T>,
    topic: string,
    partition: number,
  ): Parsed<T> {
    if (!message.value) return { ok: false, reason: 'empty message value' };
    let text: string;
    try {
      text = UTF8.decode(message.value);
    } catch {
      return { ok: false, reason: 'value is not UTF-8: malformed bytes' };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      return { ok: false, reason: `value is not JSON: ${(err as Error).message}` };
    }
    const result = contract.check(json);
    if (!result.ok) {
      return {
        ok: false,
        reason: `contract ${contract.valueClass.name}: ${result.errors
          .map((e) => `${e.field}: ${e.reasons.join('; ')}`)
          .join(' | ')}`,
      };
    }
    return {
      ok: true,
      message: {
        value: result.value,
        key: message.key?.toString('utf8') ?? null,
        headers: headersOf(message.headers),
        topic,
        partition,
        offset: message.offset,
        timestamp: message.timestamp,
      },
    };
  }

  private async processBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (batch.messages.length === 0 || !payload.isRunning() || payload.isStale() || this.stopping) return;
    const started = performance.now();
    const { topic, partition } = batch;
    const last = batch.lastOffset();
    const next = (BigInt(last) + 1n).toString();
    if (this.options.fetchAheadBytes) return this.handOver(payload, started, next);

    await this.handle(payload);
    payload.resolveOffset(last);
    await payload.commitOffsetsIfNecessary({
      topics: [{ topic, partitions: [{ partition, offset: next }] }],
    });
    await payload.heartbeat();
    this.client.instrumentation.batchProcessed?.(
      topic,
      batch.messages.length,
      (performance.now() - started) / 1000,
    );
  }

  /**
   * Fetching ahead: the batch is handled in the background and committed after every earlier
   * batch of its partition; this returns (so its partition is fetched again) unless too many
   * bytes are already waiting.
   */
  private async handOver(payload: EachBatchPayload, started: number, next: string): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    const consumer = this.consumer;
    const key = `${topic}\u0000${partition}`;
    const earlier = this.chains.get(key) ?? Promise.resolve(true);
    const handled = this.handle(payload);
    const committed = Promise.allSettled([earlier, handled]).then(async ([before, own]) => {
      if (before.status === 'fulfilled' && !before.value) return false;
      if (own.status === 'rejected') {
        this.failedAhead(own.reason as Error, payload, consumer);
        return false;
      }
      try {
        await consumer?.commitOffsets([{ topic, partition, offset: next }]);
      } catch (err) {
        // A later commit of the partition covers this one; or its next owner reads it again.
        this.client.logger.warn({ err, topic, partition, offset: next }, 'offset commit failed');
      }
      this.client.instrumentation.batchProcessed?.(
        topic,
        batch.messages.length,
        (performance.now() - started) / 1000,
      );
      return true;
    });
    this.chains.set(key, committed);
    const bytes = batch.messages.reduce((sum, m) => sum + (m.value?.length ?? 0), 0);
    this.aheadBytes += bytes;
    const settled: Promise<void> = committed.then(() => {
      this.aheadBytes -= bytes;
      this.ahead.delete(settled);
      if (this.chains.get(key) === committed) this.chains.delete(key);
    });
    this.ahead.add(settled);
    payload.resolveOffset(batch.lastOffset());
    while (this.aheadBytes > (this.options.fetchAheadBytes ?? 0) && this.ahead.size > 0) {
      await Promise.race(this.ahead);
    }
    await payload.heartbeat();
  }

  /** A batch handled ahead failed for good: start again from the committed offsets. */
  private failedAhead(err: Error, payload: EachBatchPayload, consumer: Consumer | undefined): void {
    const { topic, partition } = payload.batch;
    if (!payload.isRunning() || payload.isStale()) {
      // Revoked or stopping: its next owner reads it again from the committed offset.
      this.client.logger.warn({ err, topic, partition }, 'batch handled ahead not written; left uncommitted');
      return;
    }
    if (this.consumer === consumer && !this.crash) this.restartLater(err);
  }

  /** Parses a batch, hands its valid messages to the handler and dead-letters the invalid ones. */
  private async handle(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    const contract = this.contracts.get(topic)!;
    const valid: ConsumedMessage<T>[] = [];
    const dead: RawMessage[] = [];
    for (const message of batch.messages) {
      const parsed = this.parse(message, contract, topic, partition);
      if (parsed.ok) valid.push(parsed.message);
      else
        dead.push(
          this.deadLetterOf(
            message.key,
            message.value,
            headersOf(message.headers),
            parsed.reason,
            topic,
            partition,
            message.offset,
          ),
        );
    }

    if (valid.length) {
      const verdict = await this.handleWithRetry(
        valid,
        { topic, partition, heartbeat: () => payload.heartbeat() },
        payload,
      );
      for (const { message, reason } of verdict?.deadLetter ?? []) {
        dead.push(
          this.deadLetterOf(
            message.key,
            JSON.stringify(message.value),
            message.headers,
            reason,
            topic,
            partition,
            message.offset,
          ),
        );
      }
    }
    if (dead.length) {
      await this.client.producer().sendRaw(contract.deadLetter, dead);
      this.client.instrumentation.deadLettered?.(topic, dead.length);
      this.client.logger.warn({ topic, partition, count: dead.length }, 'dead-lettered invalid messages');
    }
  }

  private deadLetterOf(
    key: Buffer | string | null,
    value: Buffer | string | null,
    headers: Record<string, string>,
    reason: string,
    topic: string,
    partition: number,
    offset: string,
  ): RawMessage {
    return {
      key,
      value,
      headers: {
        ...headers,
        [DLQ_HEADERS.reason]: reason,
        [DLQ_HEADERS.topic]: topic,
        [DLQ_HEADERS.partition]: String(partition),
        [DLQ_HEADERS.offset]: offset,
        [DLQ_HEADERS.group]: this.options.groupId,
      },
    };
  }

  private async handleWithRetry(
    messages: ConsumedMessage<T>[],
    context: BatchContext,
    payload: EachBatchPayload,
  ): Promise<void | BatchVerdict<T>> {
    const maxAttempts = this.options.maxAttempts ?? 8;
    const backoff = this.options.retryBackoffMs ?? 250;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.options.handler(messages, context);
      } catch (err) {
        this.client.instrumentation.handlerFailed?.(context.topic);
        this.client.logger.error(
          {
            err,
            topic: context.topic,
            partition: context.partition,
            attempt,
            firstOffset: messages[0]?.offset,
          },
          'batch handler failed; batch stays uncommitted',
        );
        if (attempt >= maxAttempts || !payload.isRunning() || payload.isStale()) throw err;
        await sleep(Math.min(backoff * 2 ** (attempt - 1), 5_000));
        await context.heartbeat();
      }
    }
  }
}
