import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsEmail,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { AppError } from '@metering/contracts';
import { DEPLOYMENT_MODELS, HOSTING_MODES, TENANT_STATUSES, type Placement } from '@metering/registry-domain';
import { PageQueryDto } from '../accounts/account.dto';

class AdminContactDto {
  @IsOptional() @IsString() @MaxLength(200) name?: string;
  @IsOptional() @IsEmail() email?: string;
  @IsOptional() @IsString() @MaxLength(40) phone?: string;
}

class BrandingDto {
  @IsOptional() @IsUrl({ protocols: ['https'], require_protocol: true }) logoUrl?: string;
  @IsOptional() @Matches(/^#[0-9a-fA-F]{6}$/) primaryColor?: string;
}

export class ProfileDto {
  @IsOptional() @IsString() @MaxLength(200) companyName?: string;
  @IsOptional() @IsUrl({ require_protocol: true }) companyWebsite?: string;
  @IsOptional() @ValidateNested() @Type(() => AdminContactDto) adminContact?: AdminContactDto;
  @IsOptional() @Matches(/^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$/) domain?: string;
  @IsOptional() @ValidateNested() @Type(() => BrandingDto) branding?: BrandingDto;
}

export class PlacementDto implements Placement {
  @ApiProperty({ enum: DEPLOYMENT_MODELS })
  @IsIn(DEPLOYMENT_MODELS)
  deploymentModel!: Placement['deploymentModel'];

  @ApiProperty({ enum: HOSTING_MODES })
  @IsIn(HOSTING_MODES)
  hosting!: Placement['hosting'];

  @ApiPropertyOptional()
  @IsOptional()
  @Matches(/^[a-z0-9][a-z0-9-]{0,62}$/)
  cell?: string;
}

export class CreateTenantDto {
  @ApiProperty()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name!: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(64)
  templateId?: string;

  @ApiPropertyOptional({ type: ProfileDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => ProfileDto)
  profile?: ProfileDto;

  @ApiPropertyOptional({ type: PlacementDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => PlacementDto)
  placement?: PlacementDto;

  @ApiPropertyOptional({ description: 'limit key → integer ≥ 0, keys from the limit catalog' })
  @IsOptional()
  @IsObject()
  limits?: Record<string, number>;

  @ApiPropertyOptional({ description: 'feature flag → boolean' })
  @IsOptional()
  @IsObject()
  features?: Record<string, boolean>;

  @ApiPropertyOptional({ minimum: 0, maximum: 3650 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(3650)
  retentionDays?: number;
}

export class BulkCreateTenantsDto {
  @ApiPropertyOptional({ description: 'applied to every tenant that names none' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  templateId?: string;

  @ApiProperty({ type: [CreateTenantDto] })
  @ArrayMinSize(1)
  @ArrayMaxSize(1_000)
  @ValidateNested({ each: true })
  @Type(() => CreateTenantDto)
  tenants!: CreateTenantDto[];
}

export class UpdateTenantDto {
  @IsOptional() @IsString() @MinLength(1) @MaxLength(200) name?: string;
  @IsOptional() @ValidateNested() @Type(() => ProfileDto) profile?: ProfileDto;
  @IsOptional() @ValidateNested() @Type(() => PlacementDto) placement?: PlacementDto;
  @IsOptional() @IsInt() @Min(0) @Max(3650) retentionDays?: number;
}

export class LimitsDto {
  @ApiProperty({ description: 'limit key → integer ≥ 0' })
  @IsObject()
  limits!: Record<string, unknown>;
}

export class FeaturesDto {
  @ApiProperty({ description: 'feature flag → boolean' })
  @IsObject()
  features!: Record<string, boolean>;
}

export class SuspendDto {
  @IsOptional() @IsString() @MaxLength(500) reason?: string;
}

export class ListTenantsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: TENANT_STATUSES })
  @IsOptional()
  @IsIn(TENANT_STATUSES)
  status?: string;
}

class FeatureFlagError extends AppError {
  constructor(key: string) {
    super('invalid', 'invalid_feature', `feature ${key} must be a boolean with a plain name`, {
      field: `features.${key}`,
    });
  }
}

export function checkFeatures(features: Record<string, unknown> | undefined): void {
  for (const [key, value] of Object.entries(features ?? {})) {
    if (typeof value !== 'boolean' || !/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(key)) {
      throw new FeatureFlagError(key);
    }
  }
}
