import { ArrayNotEmpty, IsIn, IsInt, IsString, Matches, Max, Min } from 'class-validator';
import { Secret } from './config';
import { EnvList } from './env-transforms';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Variables every service reads. Apps extend this with their own. */
export class ServiceConfig {
  @IsInt()
  @Min(1)
  @Max(65535)
  PORT: number = 3000;

  @IsIn(LOG_LEVELS)
  LOG_LEVEL: (typeof LOG_LEVELS)[number] = 'info';

  /** Kafka bootstrap servers, `host:port[,host:port]`. No default: the local broker's ports vary. */
  @EnvList()
  @ArrayNotEmpty()
  @Matches(/^[^\s:,]+:\d{1,5}$/, { each: true })
  KAFKA_BROKERS!: string[];

  @IsString()
  @Matches(/^[A-Za-z0-9._-]+$/)
  KAFKA_CLIENT_ID: string = 'metering';

  /**
   * How long a consumer may go silent before the group gives its partitions to another member.
   * Also bounds how long a restarted process waits to rejoin after its predecessor was killed.
   */
  @IsInt()
  @Min(3_000)
  @Max(300_000)
  KAFKA_SESSION_TIMEOUT_MS: number = 30_000;

  /** How long shutdown may take to finish in-flight work before the process exits anyway. */
  @IsInt()
  @Min(0)
  SHUTDOWN_TIMEOUT_MS: number = 15_000;
}

/** A service that owns a Postgres database. */
export class DatabaseServiceConfig extends ServiceConfig {
  /** The service's own database; created at boot when missing. */
  @Matches(/^postgres(ql)?:\/\/[^\s]+\/[a-z_][a-z0-9_]*$/, {
    message: 'must be postgres://user@host:port/database',
  })
  @Secret()
  DATABASE_URL!: string;

  /**
   * How long a query waits for Postgres' answer before it fails: a database that stops answering
   * without closing its connections must fail requests, not hold them.
   */
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  DATABASE_QUERY_TIMEOUT_MS: number = 60_000;
}
