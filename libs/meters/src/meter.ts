import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { USAGE_EVENT_LIMITS } from '@metering/contracts';

export const AGGREGATIONS = ['SUM', 'COUNT', 'UNIQUE_COUNT', 'MAX', 'MIN', 'LATEST', 'AVG'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

/**
 * How tenants' usage combines into the account's pooled figure (ARCHITECTURE.md §5).
 * `sum-of-tenants`: each tenant's figure added (for MAX: per time bucket, then the peak bucket).
 * `distinct-across-tenants`: UNIQUE_COUNT only; a subject seen in two tenants counts once.
 */
export const POOLING_RULES = ['sum-of-tenants', 'distinct-across-tenants'] as const;
export type PoolingRule = (typeof POOLING_RULES)[number];

/** What happens to an event that arrives after its period's invoice was finalized. */
export const LATE_EVENT_POLICIES = ['adjust-next-invoice', 'reject'] as const;
export type LateEventPolicy = (typeof LATE_EVENT_POLICIES)[number];

export const METER_KEY_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;
/** A dot path into an event's `data`: `minutes`, `call.duration_s`. */
export const PROPERTY_PATH_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** A meter: which events it counts and how (ARCHITECTURE.md §4). Immutable once created. */
export interface Meter {
  key: string;
  name: string;
  eventType: string;
  aggregation: Aggregation;
  /** Path into `data` of the value; none for COUNT and UNIQUE_COUNT. */
  valueProperty?: string;
  /** Properties of `data` usage can be grouped by. */
  groupBy: string[];
  pooling: PoolingRule;
  /** MAX gauges only: width of the buckets the pooled peak is taken over. */
  bucketSeconds?: number;
  /** Negative values are accepted as corrections (compensating events). */
  allowNegative: boolean;
  lateEvents: LateEventPolicy;
  unit: string;
}

/** Body of `POST /v1/meters`. Cross-field rules are in {@link meterProblems}. */
export class MeterDefinitionDto {
  @Matches(METER_KEY_PATTERN, {
    message: 'key must be lower_snake_case, starting with a letter, at most 63 characters',
  })
  key!: string;

  @IsOptional()
  @IsString()
  @MaxLength(200)
  name?: string;

  @IsString()
  @IsNotEmpty()
  @MaxLength(USAGE_EVENT_LIMITS.typeMaxLength)
  eventType!: string;

  @IsIn(AGGREGATIONS)
  aggregation!: Aggregation;

  @IsOptional()
  @Matches(PROPERTY_PATH_PATTERN, {
    message: 'valueProperty must be a dot path into data, e.g. call.minutes',
  })
  @MaxLength(200)
  valueProperty?: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(10)
  @Matches(PROPERTY_PATH_PATTERN, { each: true, message: 'each groupBy entry must be a dot path into data' })
  groupBy?: string[];

  @IsOptional()
  @IsIn(POOLING_RULES)
  pooling?: PoolingRule;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(86_400)
  bucketSeconds?: number;

  @IsOptional()
  @IsBoolean()
  allowNegative?: boolean;

  @IsOptional()
  @IsIn(LATE_EVENT_POLICIES)
  lateEvents?: LateEventPolicy;

  @IsOptional()
  @IsString()
  @MaxLength(40)
  unit?: string;
}

const VALUE_AGGREGATIONS: readonly Aggregation[] = ['SUM', 'MAX', 'MIN', 'LATEST', 'AVG'];

/** Whether the meter reads a numeric value from each event. */
export const takesValue = (aggregation: Aggregation): boolean => VALUE_AGGREGATIONS.includes(aggregation);

/** Rules across fields of a definition, as `field: reason`; empty when it is sound. */
export function meterProblems(def: MeterDefinitionDto): { field: string; reason: string }[] {
  const problems: { field: string; reason: string }[] = [];
  if (takesValue(def.aggregation) && !def.valueProperty) {
    problems.push({ field: 'valueProperty', reason: `required for ${def.aggregation}` });
  }
  if (!takesValue(def.aggregation) && def.valueProperty) {
    problems.push({ field: 'valueProperty', reason: `${def.aggregation} counts events and reads no value` });
  }
  if (def.pooling === 'distinct-across-tenants' && def.aggregation !== 'UNIQUE_COUNT') {
    problems.push({ field: 'pooling', reason: 'distinct-across-tenants applies to UNIQUE_COUNT only' });
  }
  if (def.bucketSeconds !== undefined && def.aggregation !== 'MAX') {
    problems.push({ field: 'bucketSeconds', reason: 'applies to MAX only' });
  }
  if (def.allowNegative && def.aggregation !== 'SUM') {
    problems.push({ field: 'allowNegative', reason: 'corrections apply to SUM meters only' });
  }
  return problems;
}

/** A validated definition with every default filled in. */
export function toMeter(def: MeterDefinitionDto): Meter {
  return {
    key: def.key,
    name: def.name ?? def.key,
    eventType: def.eventType,
    aggregation: def.aggregation,
    ...(def.valueProperty ? { valueProperty: def.valueProperty } : {}),
    groupBy: def.groupBy ?? [],
    pooling: def.pooling ?? 'sum-of-tenants',
    ...(def.aggregation === 'MAX' ? { bucketSeconds: def.bucketSeconds ?? 60 } : {}),
    allowNegative: def.allowNegative ?? false,
    lateEvents: def.lateEvents ?? 'adjust-next-invoice',
    unit: def.unit ?? (def.aggregation === 'UNIQUE_COUNT' ? 'users' : 'units'),
  };
}
