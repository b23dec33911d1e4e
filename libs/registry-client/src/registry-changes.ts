import { hostname } from 'node:os';
import { REGISTRY_EVENTS_TOPIC, type DomainEventEnvelope } from '@metering/contracts';
import type { BatchConsumer, KafkaClient } from '@metering/kafka';
import type { RegistryClient } from './registry-client';

/**
 * A consumer that drops the client's cached answers as soon as `registry.events.v1` says they
 * changed (a tenant suspended, resumed, deleted or its limits changed, a key revoked). Every
 * instance must see every change, so each has a group of its own, starting at the end; the
 * cache TTL bounds staleness while it lags. Start it on bootstrap, stop it on shutdown.
 */
export function followRegistryChanges(
  kafka: KafkaClient,
  registry: RegistryClient,
  service: string,
): BatchConsumer<DomainEventEnvelope> {
  return kafka.consumer({
    groupId: `${service}.registry-cache.${hostname()}.${process.pid}`,
    topic: REGISTRY_EVENTS_TOPIC,
    fromBeginning: false,
    handler: (messages) => {
      for (const { value: event } of messages) registry.forgetChanged(event);
      return Promise.resolve();
    },
  });
}
