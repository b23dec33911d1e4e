import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  ArrayMinSize,
  Equals,
  IsArray,
  IsDefined,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  Min,
  ValidateBy,
  ValidateNested,
} from 'class-validator';
import type { FieldError } from './errors';
import { USAGE_EVENT_LIMITS as L } from './limits';
import { IsRfc3339, isRfc3339 } from './rfc3339';
import { unstorableInput, type Validated } from './validation';

/** Applies several property decorators as one. */
const field =
  (...decorators: PropertyDecorator[]): PropertyDecorator =>
  (target, key) => {
    for (const decorate of decorators) decorate(target, key);
  };

/** A required, non-empty string of at most `max` characters. */
const RequiredText = (max: number) => field(IsString(), IsNotEmpty(), MaxLength(max));

/**
 * A value stored as sent: no NUL or unpaired surrogate in it, nor in any property name or value
 * within, and no absurd nesting ({@link unstorableInput}). REST refuses these at the edge; direct
 * Kafka producers and gRPC reach only the event's own rules, which must refuse them too
 * (ClickHouse refuses unpaired surrogates in JSONEachRow: one such event would stall the sink).
 */
const Storable = (): PropertyDecorator =>
  ValidateBy({
    name: 'isStorable',
    validator: {
      validate: (value) => unstorableInput(value).length === 0,
      defaultMessage: (args) =>
        unstorableInput(args?.value, args?.property)
          .map((p) => `${p.field}: ${p.reasons.join('; ')}`)
          .join(' | '),
    },
  });

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
  @Storable()
  id!: string;

  @RequiredText(L.sourceMaxLength)
  @Storable()
  source!: string;

  @RequiredText(L.typeMaxLength)
  @Storable()
  type!: string;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(L.subjectMaxLength)
  @Storable()
  subject?: string;

  @IsRfc3339()
  time!: string;

  @IsOptional()
  @Equals('application/json')
  datacontenttype?: string;

  @IsDefined()
  @IsObject()
  @Storable()
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
  @IsInt()
  @Min(0)
  timeMs!: number;

  @IsObject()
  data!: Record<string, unknown>;

  /** When ingestion accepted the event, epoch milliseconds. */
  @IsInt()
  @Min(0)
  receivedAtMs!: number;
}

/**
 * What one message on `usage.events.v1` carries: the events ingestion accepted from one request
 * (or one consumed batch) of one tenant. Packing a request into one message keeps Kafka's
 * per-message cost off the per-event path (docs/decisions.md); consumers unpack it.
 */
export class UsageEventBatch {
  @IsString()
  @Matches(ID_PATTERN)
  @MaxLength(L.tenantIdMaxLength)
  tenantId!: string;

  @IsArray()
  @ArrayMinSize(1)
  @ValidateNested({ each: true })
  @Type(() => UsageEventRecord)
  records!: UsageEventRecord[];
}

// ---------------------------------------------------------------------------------------------
// Hand-written checks for the per-event hot path. They apply exactly the rules of the classes
// above (a property test holds them equal) at a fraction of class-validator's cost per event.

type Rule = (value: unknown) => string | undefined;
/** `storable`: once the rule holds, refuse what {@link Storable} refuses, naming the place. */
type Shape = Record<string, { optional?: boolean; rule: Rule; storable?: true }>;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const stringRule =
  (max: number, { nonEmpty = true, pattern }: { nonEmpty?: boolean; pattern?: RegExp } = {}): Rule =>
  (v) => {
    if (typeof v !== 'string') return 'must be a string';
    if (nonEmpty && v.length === 0) return 'must not be empty';
    if (pattern && !pattern.test(v)) return `must match ${String(pattern)}`;
    if (v.length > max) return `must be at most ${max} characters`;
    return undefined;
  };

const equalsRule =
  (expected: string): Rule =>
  (v) =>
    v === expected ? undefined : `must be ${JSON.stringify(expected)}`;

const objectRule: Rule = (v) => (isPlainObject(v) ? undefined : 'must be a JSON object');

const epochMsRule: Rule = (v) =>
  Number.isInteger(v) && (v as number) >= 0 ? undefined : 'must be a non-negative integer (epoch ms)';

const timeRule: Rule = (v) =>
  isRfc3339(v) ? undefined : 'must be an RFC 3339 timestamp (e.g. 2026-11-01T10:00:00Z)';

const CLOUD_EVENT_SHAPE: Shape = {
  specversion: { rule: equalsRule('1.0') },
  id: { rule: stringRule(L.idMaxLength), storable: true },
  source: { rule: stringRule(L.sourceMaxLength), storable: true },
  type: { rule: stringRule(L.typeMaxLength), storable: true },
  subject: { optional: true, rule: stringRule(L.subjectMaxLength), storable: true },
  time: { rule: timeRule },
  datacontenttype: { optional: true, rule: equalsRule('application/json') },
  data: { rule: objectRule, storable: true },
  tenantid: { optional: true, rule: stringRule(L.tenantIdMaxLength, { pattern: ID_PATTERN }) },
};

const RECORD_SHAPE: Shape = {
  id: { rule: stringRule(L.idMaxLength) },
  tenantId: { rule: stringRule(L.tenantIdMaxLength, { nonEmpty: false, pattern: ID_PATTERN }) },
  accountId: { optional: true, rule: stringRule(Infinity, { nonEmpty: false, pattern: ID_PATTERN }) },
  source: { rule: stringRule(L.sourceMaxLength) },
  type: { rule: stringRule(L.typeMaxLength) },
  subject: { optional: true, rule: stringRule(L.subjectMaxLength, { nonEmpty: false }) },
  timeMs: { rule: epochMsRule },
  data: { rule: objectRule },
  receivedAtMs: { rule: epochMsRule },
};

function checkShape(shape: Shape, value: unknown, prefix = ''): FieldError[] {
  if (!isPlainObject(value)) return [{ field: prefix || '$', reasons: ['must be a JSON object'] }];
  const errors: FieldError[] = [];
  for (const field in shape) {
    const { optional, rule, storable } = shape[field];
    const v = value[field];
    if (optional && (v === undefined || v === null)) continue;
    const name = prefix ? `${prefix}.${field}` : field;
    const reason = rule(v);
    if (reason) errors.push({ field: name, reasons: [reason] });
    else if (storable) errors.push(...unstorableInput(v, name));
  }
  return errors;
}

const result = <T>(value: unknown, errors: FieldError[]): Validated<T> =>
  errors.length ? { ok: false, errors } : { ok: true, value: value as T };

/** {@link UsageCloudEvent}'s rules, fast. */
export const checkUsageCloudEvent = (value: unknown): Validated<UsageCloudEvent> =>
  result(value, checkShape(CLOUD_EVENT_SHAPE, value));

/** {@link UsageEventRecord}'s rules, fast. */
export const checkUsageEventRecord = (value: unknown): Validated<UsageEventRecord> =>
  result(value, checkShape(RECORD_SHAPE, value));

/** {@link UsageEventBatch}'s rules, fast, plus: every record belongs to the batch's tenant. */
export function checkUsageEventBatch(value: unknown): Validated<UsageEventBatch> {
  if (!isPlainObject(value)) return result(value, [{ field: '$', reasons: ['must be a JSON object'] }]);
  const errors: FieldError[] = [];
  const tenantReason = RECORD_SHAPE.tenantId.rule(value.tenantId);
  if (tenantReason) errors.push({ field: 'tenantId', reasons: [tenantReason] });
  const { records } = value;
  if (!Array.isArray(records) || records.length === 0) {
    errors.push({ field: 'records', reasons: ['must be a non-empty array'] });
    return result(value, errors);
  }
  records.forEach((record: unknown, i) => {
    errors.push(...checkShape(RECORD_SHAPE, record, `records.${i}`));
    if (isPlainObject(record) && record.tenantId !== value.tenantId) {
      errors.push({ field: `records.${i}.tenantId`, reasons: ["must equal the batch's tenantId"] });
    }
  });
  return result(value, errors);
}
