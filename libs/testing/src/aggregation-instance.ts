import { USAGE_EVENTS_TOPIC } from '@metering/contracts';
import { commitGroupAtEnd } from './kafka-offsets';
import { startInstance, type ServiceInstance } from './services';
import { stackVar, uniqueName } from './stack';

export interface OwnAggregation {
  /** Its ClickHouse database, Postgres database and consumer groups. */
  names: { clickhouse: string; postgres: string; group: string; plans: string };
  /** Starts (or, after a kill, restarts) it on new free ports with the same databases and groups. */
  start: (env?: Record<string, string>) => Promise<ServiceInstance>;
  /**
   * Has its first start consume `usage.events.v1` from the topic's current end rather than from the
   * earliest event the topic holds (call it before `start`).
   */
  skipEarlierEvents: () => Promise<void>;
}

/** Its session timeout: a restart rejoins the group once the killed member's session has expired. */
const SESSION_TIMEOUT_MS = 6_000;

/**
 * An aggregation instance of its own beside the stack's, consuming the real `usage.events.v1`:
 * its own ClickHouse database, Postgres database and consumer groups, so what it stores is
 * exactly what its sink wrote, and killing or cutting it off never disturbs the stack's
 * aggregation. Its ClickHouse database is left for the caller to drop.
 */
export function ownAggregation(): OwnAggregation {
  const names = {
    clickhouse: uniqueName('fault'),
    postgres: uniqueName('agg_fault'),
    group: uniqueName('aggregation.fault'),
    plans: uniqueName('aggregation.fault-plans'),
  };
  const start = (env: Record<string, string> = {}): Promise<ServiceInstance> =>
    startInstance('aggregation', {
      CLICKHOUSE_DATABASE: names.clickhouse,
      USAGE_CONSUMER_GROUP: names.group,
      // Plans land in its own Postgres database, so it reads them in a group of its own too.
      PLAN_CONSUMER_GROUP: names.plans,
      DATABASE_URL: `${stackVar('POSTGRES_URL')}/${names.postgres}`,
      ROLLUP_SETTLE_MS: '200',
      KAFKA_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
      // Its own Postgres holds none of the quota crossings the stack's aggregation announced:
      // evaluating quotas would announce them again on the shared quota.events.v1.
      QUOTA_EVAL_INTERVAL_MS: '0',
      ...env,
    });
  const skipEarlierEvents = () => commitGroupAtEnd(names.group, USAGE_EVENTS_TOPIC.name, SESSION_TIMEOUT_MS);
  return { names, start, skipEarlierEvents };
}
