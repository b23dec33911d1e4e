import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { ID_PATTERN, IsRfc3339 } from '@metering/contracts';
import { USAGE_WINDOWS, type UsageWindow } from './usage-windows';

export class UsageQueryDto {
  @ApiProperty({ example: 'api_calls' })
  @IsString()
  @MaxLength(64)
  meter!: string;

  @ApiPropertyOptional({ description: 'Pooled usage of this account, with each tenant’s part' })
  @IsOptional()
  @Matches(ID_PATTERN)
  @MaxLength(128)
  accountId?: string;

  @ApiPropertyOptional({ description: 'Only this tenant’s usage' })
  @IsOptional()
  @Matches(ID_PATTERN)
  @MaxLength(128)
  tenantId?: string;

  @ApiPropertyOptional({ description: 'Inclusive start (RFC 3339); default: the epoch' })
  @IsOptional()
  @IsRfc3339()
  from?: string;

  @ApiPropertyOptional({ description: 'Exclusive end (RFC 3339); default: now' })
  @IsOptional()
  @IsRfc3339()
  to?: string;

  @ApiPropertyOptional({
    enum: USAGE_WINDOWS,
    description: 'Also pooled per window (UTC calendar for day and month)',
  })
  @IsOptional()
  @IsIn(USAGE_WINDOWS)
  window?: UsageWindow;

  @ApiPropertyOptional({
    description:
      'One of the meter’s groupBy properties (dot path into data): also pooled per value of it. `tenant`: the per-tenant breakdown every answer has',
  })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  groupBy?: string;
}
