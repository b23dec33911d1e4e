import type { IHeaders } from 'kafkajs';
import type { FieldError, TopicContract } from '@metering/contracts';
import type { KafkaClient } from './kafka-client';

/** A value that does not satisfy its topic's contract; nothing of the send was published. */
export class ContractViolationError extends Error {
  constructor(
    readonly topic: string,
    readonly index: number,
    readonly errors: FieldError[],
  ) {
    super(`message ${index} for ${topic} violates its contract: ${errors.map((e) => e.field).join(', ')}`);
    this.name = 'ContractViolationError';
  }
}

export interface RawMessage {
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: IHeaders;
}

/**
 * Publishes contract-checked values. A send resolves only once every in-sync replica has the
 * messages (acks = all); callers acknowledge their own clients only after that.
 */
export class TypedProducer {
  constructor(private readonly client: KafkaClient) {}

  async send<T extends object>(
    topic: TopicContract<T>,
    values: readonly T[],
    headers?: IHeaders,
  ): Promise<void> {
    if (values.length === 0) return;
    values.forEach((value, index) => {
      const result = topic.check(value);
      if (!result.ok) throw new ContractViolationError(topic.name, index, result.errors);
    });
    await this.sendRaw(
      topic.name,
      values.map((value) => ({ key: topic.keyOf(value), value: JSON.stringify(value), headers })),
    );
  }

  sendRaw(topic: string, messages: RawMessage[]): Promise<void> {
    return this.client.publish(topic, messages);
  }
}
