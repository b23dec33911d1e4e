import { ApiProperty, ApiPropertyOptional, IntersectionType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateIf } from 'class-validator';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '@metering/audit-domain';
import { ACTOR_TYPES, ID_PATTERN, IsRfc3339, type ActorType } from '@metering/contracts';

/** Filters every read takes besides account and tenant. */
export class AuditFilterDto {
  @ApiPropertyOptional({ description: 'Actor id: a management key, API key or service' })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  actor?: string;

  @ApiPropertyOptional({ enum: ACTOR_TYPES })
  @IsOptional()
  @IsIn(ACTOR_TYPES)
  actorType?: ActorType;

  @ApiPropertyOptional({
    description: 'Action prefix, e.g. `tenant.` or `api_key.revoked`',
    example: 'tenant.',
  })
  @IsOptional()
  @Matches(/^[a-z0-9_.]+$/, { message: 'action must be a prefix of a dotted event name' })
  @MaxLength(128)
  action?: string;

  @ApiPropertyOptional({ description: 'Inclusive start of the action time (RFC 3339)' })
  @IsOptional()
  @IsRfc3339()
  from?: string;

  @ApiPropertyOptional({ description: 'Exclusive end of the action time (RFC 3339)' })
  @IsOptional()
  @IsRfc3339()
  to?: string;
}

export class AuditPageDto extends AuditFilterDto {
  @ApiPropertyOptional({ description: 'From `nextCursor` of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  cursor?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  limit?: number;
}

class AccountTenantDto {
  @ApiPropertyOptional({ description: 'Platform admins: one account (default: all). Others: their own.' })
  @IsOptional()
  @Matches(ID_PATTERN)
  @MaxLength(128)
  accountId?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @Matches(ID_PATTERN)
  @MaxLength(128)
  tenantId?: string;
}

export class AuditListQueryDto extends IntersectionType(AuditPageDto, AccountTenantDto) {}

export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export class TenantExportQueryDto extends AuditFilterDto {
  @ApiPropertyOptional({ enum: EXPORT_FORMATS, default: 'ndjson' })
  @IsOptional()
  @IsIn(EXPORT_FORMATS)
  format?: ExportFormat;
}

export class AuditExportQueryDto extends IntersectionType(TenantExportQueryDto, AccountTenantDto) {}

export class AccountQueryDto {
  @ApiPropertyOptional({ description: 'Required for platform admins; others: their own account' })
  @IsOptional()
  @Matches(ID_PATTERN)
  @MaxLength(128)
  accountId?: string;
}

export class VerifyQueryDto extends AccountQueryDto {
  @ApiPropertyOptional({
    description: 'A head exported earlier (`seq`), which must still be part of the chain',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  anchorSeq?: number;

  @ApiPropertyOptional({ description: 'The exported head’s `hash`' })
  @IsOptional()
  @Matches(/^[0-9a-f]{64}$/, { message: 'anchorHash must be 64 lower-case hex digits' })
  anchorHash?: string;
}

export class RetentionDto {
  @ApiPropertyOptional({ description: 'Required for platform admins; others: their own account' })
  @IsOptional()
  @Matches(ID_PATTERN)
  @MaxLength(128)
  accountId?: string;

  @ApiProperty({
    description: 'Days entries are kept after their action time; null keeps them forever',
    minimum: 1,
    type: Number,
    nullable: true,
  })
  @ValidateIf((dto: RetentionDto) => dto.retentionDays !== null)
  @IsInt()
  @Min(1)
  @Max(36_500)
  retentionDays!: number | null;
}
