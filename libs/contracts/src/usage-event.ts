import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  Equals,
  IsDefined,
  IsInt,
  IsISO8601,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  Min,
} from 'class-validator';
import { USAGE_EVENT_LIMITS as L } from './limits';

/** Applies several property decorators as one. */
const field =
  (...decorators: PropertyDecorator[]): PropertyDecorator =>
  (target, key) => {
    for (const decorate of decorators) decorate(target, key);
  };

/** A required, non-empty string of at most `max` characters. */
const RequiredText = (max: number) => field(IsString(), IsNotEmpty(), MaxLength(max));

/** Tenant and account ids: opaque, URL-safe strings. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

/**
 * A usage event as producers send it: a CloudEvents 1.0 structured-mode event. `id` is the
 * idempotency key; `tenantid` is an extension attribute that only trusted producers may set
 * (REST and gRPC take the tenant from the caller's credentials).
 */
export class UsageCloudEvent {
  @Equals('1.0')
  specversion!: string;

  @RequiredText(L.idMaxLength)
  id!: string;

  @RequiredText(L.sourceMaxLength)
  source!: string;

  @RequiredText(L.typeMaxLength)
  type!: string;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(L.subjectMaxLength)
  subject?: string;

  @IsISO8601({ strict: true, strictSeparator: true })
  time!: string;

  @IsOptional()
  @Equals('application/json')
  datacontenttype?: string;

  @IsDefined()
  @IsObject()
  data!: Record<string, unknown>;

  @IsOptional()
  @IsString()
  @Matches(ID_PATTERN)
  @MaxLength(L.tenantIdMaxLength)
  tenantid?: string;
}

/** A validated usage event as it travels on `usage.events.v1`, tenant resolved. */
export class UsageEventRecord {
  @RequiredText(L.idMaxLength)
  id!: string;

  @IsString()
  @Matches(ID_PATTERN)
  @MaxLength(L.tenantIdMaxLength)
  tenantId!: string;

  @IsOptional()
  @IsString()
  @Matches(ID_PATTERN)
  accountId?: string;

  @RequiredText(L.sourceMaxLength)
  source!: string;

  @RequiredText(L.typeMaxLength)
  type!: string;

  @IsOptional()
  @IsString()
  @MaxLength(L.subjectMaxLength)
  subject?: string;

  /** Event time, epoch milliseconds. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  timeMs!: number;

  @IsObject()
  data!: Record<string, unknown>;

  /** When ingestion accepted the event, epoch milliseconds. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  receivedAtMs!: number;
}
