import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsISO8601, IsOptional, IsString, Length, Max, MaxLength, Min } from 'class-validator';
import { MAX_INT32 } from '@metering/contracts';
import { CHANGE_TIMINGS, type ChangeTiming } from '@metering/billing-domain';

export class PutSubscriptionDto {
  @ApiProperty()
  @IsString()
  @MaxLength(64)
  planId!: string;

  @ApiProperty({ minimum: 1 })
  @IsInt()
  @Min(1)
  @Max(MAX_INT32)
  planVersion!: number;

  @ApiPropertyOptional({ description: 'RFC 3339 start of a new subscription (default: now)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  startAt?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 31, default: 1, description: 'fixed at creation' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(31)
  anchorDay?: number;

  @ApiPropertyOptional({
    example: 'Europe/Berlin',
    default: 'UTC',
    description: 'IANA zone; fixed at creation',
  })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  timezone?: string;

  @ApiPropertyOptional({
    enum: CHANGE_TIMINGS,
    default: 'next-period',
    description: 'when a plan change takes effect: the next period boundary, or now with prorated base fees',
  })
  @IsOptional()
  @IsIn(CHANGE_TIMINGS)
  effective?: ChangeTiming;
}
