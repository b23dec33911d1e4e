import {
  Kafka,
  Partitioners,
  logLevel as KafkaLogLevel,
  type Admin,
  type Producer,
  type LogEntry,
} from 'kafkajs';
import { BatchConsumer, type BatchConsumerOptions } from './batch-consumer';
import { GroupCommit } from './group-commit';
import { TypedProducer, type RawMessage } from './typed-producer';

/** The subset of a pino logger the Kafka wrapper writes to. */
export interface KafkaLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Hooks for metrics; every one optional. */
export interface KafkaInstrumentation {
  batchProcessed?(topic: string, messages: number, seconds: number): void;
  deadLettered?(topic: string, messages: number): void;
  handlerFailed?(topic: string): void;
}

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  logger?: KafkaLogger;
  instrumentation?: KafkaInstrumentation;
  /** Per-request timeout; kept short so an unreachable broker fails a request instead of hanging it. */
  requestTimeoutMs?: number;
  /** Consumers' session timeout unless a consumer sets its own (default 30 s). */
  sessionTimeoutMs?: number;
}

/**
 * Most bytes of message values one produce request carries for sends that go together: a
 * partition's share of a request becomes one record batch, which brokers refuse above
 * `message.max.bytes` (1 MB by default).
 */
const MAX_GROUPED_SEND_BYTES = 900 * 1024;

interface OutgoingMessage {
  topic: string;
  message: RawMessage;
}

const sizeOf = (message: RawMessage) => (message.value?.length ?? 0) + (message.key?.length ?? 0);

const silentLogger: KafkaLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * One connection to the cluster per process: a shared producer (acks = all), consumers with
 * manual commits, and a readiness check. Never relies on broker-side idempotence or
 * transactions (the local broker has neither; see ARCHITECTURE.md §3).
 */
export class KafkaClient {
  readonly logger: KafkaLogger;
  readonly instrumentation: KafkaInstrumentation;
  private readonly kafka: Kafka;
  private producerInstance?: Producer;
  private producerReady?: Promise<Producer>;
  private admin?: Admin;
  private readonly consumers = new Set<BatchConsumer<object>>();
  /** Sends made while one is in flight go together in the next produce request. */
  private readonly sends = new GroupCommit<OutgoingMessage>({
    flush: (outgoing) => this.produce(outgoing),
    weigh: (outgoing) => outgoing.reduce((bytes, o) => bytes + sizeOf(o.message), 0),
    maxWeight: MAX_GROUPED_SEND_BYTES,
  });

  constructor(readonly options: KafkaClientOptions) {
    this.logger = options.logger ?? silentLogger;
    this.instrumentation = options.instrumentation ?? {};
    const logger = this.logger;
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      requestTimeout: options.requestTimeoutMs ?? 10_000,
      connectionTimeout: 3_000,
      retry: { initialRetryTime: 200, retries: 5 },
      logLevel: KafkaLogLevel.WARN,
      logCreator:
        () =>
        ({ level, log }: LogEntry) => {
          const { message, ...rest } = log;
          const entry = { component: 'kafkajs', ...rest };
          if (level <= KafkaLogLevel.ERROR) logger.error(entry, message);
          else if (level === KafkaLogLevel.WARN) logger.warn(entry, message);
          else logger.debug(entry, message);
        },
    });
  }

  /** The shared producer, connected on first use. */
  async rawProducer(): Promise<Producer> {
    this.producerReady ??= (async () => {
      const producer = this.kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: true,
        idempotent: false,
      });
      await producer.connect();
      this.producerInstance = producer;
      return producer;
    })().catch((err: unknown) => {
      this.producerReady = undefined;
      throw err;
    });
    return this.producerReady;
  }

  /**
   * Publishes messages with acks = all, resolving once the cluster has them all. Concurrent calls
   * share produce requests (a group commit): each call's messages keep their order, and a call
   * fails if the request carrying its messages failed.
   */
  publish(topic: string, messages: readonly RawMessage[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    return this.sends.submit(messages.map((message) => ({ topic, message })));
  }

  private async produce(outgoing: OutgoingMessage[]): Promise<void> {
    const byTopic = new Map<string, RawMessage[]>();
    for (const { topic, message } of outgoing) {
      const messages = byTopic.get(topic) ?? [];
      messages.push(message);
      byTopic.set(topic, messages);
    }
    const producer = await this.rawProducer();
    await producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
  }

  producer(): TypedProducer {
    return new TypedProducer(this);
  }

  consumer<T extends object>(options: BatchConsumerOptions<T>): BatchConsumer<T> {
    const consumer = new BatchConsumer<T>(this, this.kafka, options);
    this.consumers.add(consumer as unknown as BatchConsumer<object>);
    return consumer;
  }

  /** Readiness: the cluster answers a metadata request. */
  async check(): Promise<void> {
    this.admin ??= this.kafka.admin();
    await this.admin.connect();
    const cluster = await this.admin.describeCluster();
    if (cluster.brokers.length === 0) throw new Error('no brokers in cluster metadata');
  }

  /** Creates topics where the broker supports it; failures are logged, not fatal (topics also auto-create). */
  async ensureTopics(names: string[], numPartitions = 4): Promise<void> {
    try {
      this.admin ??= this.kafka.admin();
      await this.admin.connect();
      await this.admin.createTopics({
        topics: names.map((topic) => ({ topic, numPartitions })),
        waitForLeaders: true,
      });
    } catch (err) {
      this.logger.warn({ err, topics: names }, 'topic provisioning failed; relying on auto-creation');
    }
  }

  /** Stops consumers (each finishes and commits its in-flight batch), then disconnects. */
  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    this.consumers.clear();
    await this.producerInstance?.disconnect();
    this.producerInstance = undefined;
    this.producerReady = undefined;
    await this.admin?.disconnect();
    this.admin = undefined;
  }
}
