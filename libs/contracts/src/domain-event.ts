import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsISO8601,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';

export const ACTOR_TYPES = ['management-key', 'api-key', 'service', 'system'] as const;
export type ActorType = (typeof ACTOR_TYPES)[number];

export class Actor {
  @IsIn(ACTOR_TYPES)
  type!: ActorType;

  @IsString()
  @IsNotEmpty()
  @MaxLength(256)
  id!: string;
}

/**
 * The envelope of every domain event on `*.events.v1`. Consumers dedupe by `eventId`; the
 * aggregate version orders events of one stream.
 */
export class DomainEventEnvelope<TData extends object = Record<string, unknown>> {
  @IsUUID()
  eventId!: string;

  /** Dotted name, e.g. `tenant.suspended`. */
  @IsString()
  @IsNotEmpty()
  @MaxLength(128)
  type!: string;

  @IsInt()
  @Min(1)
  schemaVersion!: number;

  @IsISO8601({ strict: true })
  occurredAt!: string;

  @IsString()
  @IsNotEmpty()
  accountId!: string;

  @IsOptional()
  @IsString()
  tenantId?: string;

  @IsString()
  @IsNotEmpty()
  aggregateType!: string;

  @IsString()
  @IsNotEmpty()
  aggregateId!: string;

  @IsInt()
  @Min(1)
  aggregateVersion!: number;

  @ValidateNested()
  @Type(() => Actor)
  actor!: Actor;

  @IsString()
  @IsNotEmpty()
  source!: string;

  @IsOptional()
  @IsString()
  correlationId?: string;

  @IsObject()
  data!: TData;
}
