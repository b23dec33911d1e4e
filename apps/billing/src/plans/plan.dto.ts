import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsArray,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Matches,
  MaxLength,
  ValidateNested,
} from 'class-validator';
import { PRICE_MODEL_TYPES, type PriceModelType } from '@metering/billing-math';
import { PLAN_INTERVALS, type PlanInterval } from '@metering/billing-domain';

const DECIMAL = { description: 'decimal string', example: '0.01' };

export class PriceTierDto {
  @ApiPropertyOptional({
    ...DECIMAL,
    description: 'inclusive upper bound in overage units; absent on the last tier',
  })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  upTo?: string;

  @ApiProperty(DECIMAL)
  @IsString()
  @MaxLength(40)
  unitPrice!: string;

  @ApiPropertyOptional(DECIMAL)
  @IsOptional()
  @IsString()
  @MaxLength(40)
  flatFee?: string;
}

/** The overage price model; which fields apply depends on `type` (checked by the plan rules). */
export class PriceModelDto {
  @ApiProperty({ enum: PRICE_MODEL_TYPES })
  @IsIn(PRICE_MODEL_TYPES)
  type!: PriceModelType;

  @ApiPropertyOptional({ ...DECIMAL, description: 'PER_UNIT' })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  unitPrice?: string;

  @ApiPropertyOptional({ type: [PriceTierDto], description: 'GRADUATED and VOLUME' })
  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => PriceTierDto)
  tiers?: PriceTierDto[];

  @ApiPropertyOptional({ ...DECIMAL, description: 'PACKAGE: units per package' })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  packageSize?: string;

  @ApiPropertyOptional({ ...DECIMAL, description: 'PACKAGE: price per package' })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  packagePrice?: string;
}

export class PlanMeterDto {
  @ApiProperty({ example: 'api_calls' })
  @IsString()
  @MaxLength(63)
  meterKey!: string;

  @ApiProperty({ ...DECIMAL, example: '100000', description: 'pooled quantity included in the base fee' })
  @IsString()
  @MaxLength(40)
  included!: string;

  @ApiProperty({ type: PriceModelDto })
  @ValidateNested()
  @Type(() => PriceModelDto)
  overage!: PriceModelDto;

  @ApiPropertyOptional({ ...DECIMAL, description: 'at most this many overage units are billed' })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  hardCap?: string;
}

export class PlanVersionDto {
  @ApiProperty({ example: 'USD', description: 'ISO 4217 code' })
  @Matches(/^[A-Z]{3}$/)
  currency!: string;

  @ApiPropertyOptional({ enum: PLAN_INTERVALS, default: 'month' })
  @IsOptional()
  @IsIn(PLAN_INTERVALS)
  interval?: PlanInterval;

  @ApiProperty({ ...DECIMAL, example: '99.00', description: 'major units of the currency' })
  @IsString()
  @MaxLength(40)
  baseFee!: string;

  @ApiProperty({ type: [PlanMeterDto] })
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => PlanMeterDto)
  meters!: PlanMeterDto[];

  @ApiPropertyOptional({ example: { maxAgents: 10 }, description: 'default per-tenant capability limits' })
  @IsOptional()
  @IsObject()
  tenantLimits?: Record<string, number>;

  @ApiProperty({ example: 72, description: 'hours after a period ends during which its draft is re-rated' })
  @IsInt()
  gracePeriodHours!: number;
}

export class CreatePlanDto extends PlanVersionDto {
  @ApiPropertyOptional({ example: 'growth', description: 'chosen id; generated when absent' })
  @IsOptional()
  @Matches(/^[a-z][a-z0-9_-]{0,62}$/)
  id?: string;

  @ApiProperty({ example: 'Growth' })
  @IsString()
  @Length(1, 200)
  name!: string;
}
