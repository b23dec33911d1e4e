import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsISO8601, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { ID_PATTERN } from '@metering/contracts';

export class UsageQueryDto {
  @ApiProperty({ example: 'api_calls' })
  @IsString()
  @MaxLength(64)
  meter!: string;

  @ApiProperty()
  @Matches(ID_PATTERN)
  @MaxLength(128)
  tenantId!: string;

  @ApiPropertyOptional({ description: 'Inclusive start (RFC 3339); default: the epoch' })
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;

  @ApiPropertyOptional({ description: 'Exclusive end (RFC 3339); default: now' })
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;
}
