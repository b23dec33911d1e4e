import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsOptional,
  IsString,
  MaxLength,
  ValidateIf,
} from 'class-validator';
import { DELIVERABLE_EVENT_TYPES, MAX_EVENT_TYPES, MAX_URL_LENGTH } from '@metering/webhooks-domain';

const EVENT_TYPES_DESCRIPTION = `Event types delivered: any of ${DELIVERABLE_EVENT_TYPES.join(', ')}; a prefix such as \`invoice.*\`; or \`*\` for all of them`;

export class CreateEndpointDto {
  @ApiProperty({
    description:
      'Where deliveries are POSTed: http(s), a public address (private networks only if configured)',
    example: 'https://hooks.example.com/metering',
  })
  @IsString()
  @MaxLength(MAX_URL_LENGTH)
  url!: string;

  @ApiProperty({
    description: EVENT_TYPES_DESCRIPTION,
    example: ['quota.threshold_crossed', 'invoice.finalized', 'invoice.paid', 'tenant.suspended'],
  })
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(MAX_EVENT_TYPES)
  @IsString({ each: true })
  @MaxLength(128, { each: true })
  eventTypes!: string[];

  @ApiPropertyOptional({ example: 'finance system' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;
}

/**
 * A field a PATCH may leave out, but not set to null: null is no value of its type (a null
 * description reached the NOT NULL column as a 500), and "leave it as it is" is said by leaving it out.
 */
const Omissible = () => ValidateIf((_dto: object, value: unknown) => value !== undefined);

export class UpdateEndpointDto {
  @ApiPropertyOptional({ description: EVENT_TYPES_DESCRIPTION })
  @Omissible()
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(MAX_EVENT_TYPES)
  @IsString({ each: true })
  @MaxLength(128, { each: true })
  eventTypes?: string[];

  @ApiPropertyOptional()
  @Omissible()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({
    description: 'false stops deliveries; true re-enables an endpoint (disabled by hand or for failing)',
  })
  @Omissible()
  @IsBoolean()
  enabled?: boolean;
}
