import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsNumber, IsOptional, IsString, Matches, MaxLength, Min } from 'class-validator';
import { ID_PATTERN } from '@metering/contracts';

export class EntitlementCheckDto {
  @ApiProperty()
  @Matches(ID_PATTERN)
  @MaxLength(128)
  tenantId!: string;

  @ApiProperty({
    description: 'A meter key of the plan (`voice_minutes`) or a capability limit key (`maxAgents`)',
  })
  @IsString()
  @MaxLength(64)
  key!: string;

  @ApiPropertyOptional({
    description:
      'Meters: how much more the tenant wants to use (default 1). Limits: how many the tenant wants to hold in all.',
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false, maxDecimalPlaces: 9 })
  @Min(0)
  quantity?: number;
}
