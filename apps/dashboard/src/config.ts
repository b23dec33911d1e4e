import { IsIn, IsInt, IsUrl, Max, Min } from 'class-validator';
import { LOG_LEVELS } from '@metering/config';

const SERVICE_URL = { require_tld: false, protocols: ['http', 'https'], require_protocol: true };

/**
 * The dashboard reads no Kafka, database or ClickHouse: only the services' REST APIs, so it does
 * not extend ServiceConfig (whose KAFKA_BROKERS is required) and declares the variables
 * runService reads itself.
 */
export class DashboardConfig {
  @IsInt()
  @Min(1)
  @Max(65535)
  PORT: number = 3007;

  @IsIn(LOG_LEVELS)
  LOG_LEVEL: (typeof LOG_LEVELS)[number] = 'info';

  /** How long shutdown may take to finish in-flight requests before the process exits anyway. */
  @IsInt()
  @Min(0)
  SHUTDOWN_TIMEOUT_MS: number = 15_000;

  /** Base URLs of the REST APIs the page reads through `/api/<service>/…`. */
  @IsUrl(SERVICE_URL)
  REGISTRY_API_URL: string = 'http://127.0.0.1:3001';

  @IsUrl(SERVICE_URL)
  AGGREGATION_API_URL: string = 'http://127.0.0.1:3003';

  @IsUrl(SERVICE_URL)
  BILLING_API_URL: string = 'http://127.0.0.1:3004';

  @IsUrl(SERVICE_URL)
  AUDIT_API_URL: string = 'http://127.0.0.1:3005';

  /** How long a proxied request may wait for the service's answer (a long audit verification). */
  @IsInt()
  @Min(100)
  @Max(600_000)
  UPSTREAM_TIMEOUT_MS: number = 60_000;
}
