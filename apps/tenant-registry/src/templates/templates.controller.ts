import { Body, Controller, Get, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import type { Caller } from '@metering/registry-data-access';
import { CAN, type TemplateSpec } from '@metering/registry-domain';
import { CallerOf } from '../auth/caller.decorator';
import { Allow, ManagementAuthGuard } from '../auth/management-auth.guard';
import { RegistryService } from '../registry/registry.service';
import { PlacementDto, checkFeatures } from '../tenants/tenant.dto';

export class CreateTemplateDto {
  @ApiProperty() @IsString() @MaxLength(64) accountId!: string;
  @ApiProperty() @IsString() @MinLength(1) @MaxLength(200) name!: string;
  @ApiProperty() @IsObject() limits!: Record<string, number>;
  @ApiPropertyOptional() @IsOptional() @IsObject() features?: Record<string, boolean>;
  @ApiPropertyOptional({ type: PlacementDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => PlacementDto)
  placement?: PlacementDto;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) @Max(3650) retentionDays?: number;
}

export class ListTemplatesQueryDto {
  @IsOptional() @IsString() @MaxLength(64) accountId?: string;
}

@ApiTags('templates')
@ApiBearerAuth()
@UseGuards(ManagementAuthGuard)
@Controller('v1/templates')
export class TemplatesController {
  constructor(private readonly registry: RegistryService) {}

  @Post()
  @Allow(...CAN.administer)
  async create(
    @CallerOf() caller: Caller,
    @Body() body: CreateTemplateDto,
  ): Promise<TemplateSpec & { id: string }> {
    checkFeatures(body.features);
    const { accountId, ...spec } = body;
    return await this.registry.store.createTemplate(caller, accountId, {
      ...spec,
      features: spec.features ?? {},
    });
  }

  @Get()
  @Allow(...CAN.read)
  async list(
    @CallerOf() caller: Caller,
    @Query() query: ListTemplatesQueryDto,
  ): Promise<{ items: (TemplateSpec & { id: string })[] }> {
    // Another account is answered as not found, never as an empty list.
    if (query.accountId !== undefined) await this.registry.store.getAccount(caller, query.accountId);
    return { items: await this.registry.store.listTemplates(caller, query.accountId) };
  }
}
