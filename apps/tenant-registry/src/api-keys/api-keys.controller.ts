import { Body, Controller, Delete, Get, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import {
  ArrayMinSize,
  ArrayUnique,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import type { ApiKeyView, Caller } from '@metering/registry-data-access';
import { API_KEY_SCOPES, CAN, type ApiKeyScope } from '@metering/registry-domain';
import { CallerOf } from '../auth/caller.decorator';
import { Allow, ManagementAuthGuard } from '../auth/management-auth.guard';
import { RegistryService } from '../registry/registry.service';

export class IssueApiKeyDto {
  @ApiProperty({ enum: API_KEY_SCOPES, isArray: true })
  @ArrayMinSize(1)
  @ArrayUnique()
  @IsIn(API_KEY_SCOPES, { each: true })
  scopes!: ApiKeyScope[];

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(100)
  name?: string;
}

export class RotateApiKeyDto {
  @ApiPropertyOptional({ description: 'how long the old key keeps working', default: 86400 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(30 * 86_400)
  overlapSeconds?: number;
}

@ApiTags('api-keys')
@ApiBearerAuth()
@UseGuards(ManagementAuthGuard)
@Controller('v1')
export class ApiKeysController {
  constructor(private readonly registry: RegistryService) {}

  @Post('tenants/:id/api-keys')
  @Allow(...CAN.administer)
  async issue(
    @CallerOf() caller: Caller,
    @Param('id') tenantId: string,
    @Body() body: IssueApiKeyDto,
  ): Promise<ApiKeyView & { secret: string }> {
    return await this.registry.store.issueApiKey(caller, tenantId, {
      scopes: body.scopes,
      name: body.name ?? 'default',
    });
  }

  @Get('tenants/:id/api-keys')
  @Allow(...CAN.read)
  async list(@CallerOf() caller: Caller, @Param('id') tenantId: string): Promise<{ items: ApiKeyView[] }> {
    return { items: await this.registry.store.listApiKeys(caller, tenantId) };
  }

  @Post('api-keys/:id/rotate')
  @Allow(...CAN.administer)
  async rotate(
    @CallerOf() caller: Caller,
    @Param('id') id: string,
    @Body() body: RotateApiKeyDto,
  ): Promise<ApiKeyView & { secret: string }> {
    return this.registry.store.rotateApiKey(caller, id, body.overlapSeconds ?? 86_400);
  }

  @Delete('api-keys/:id')
  @Allow(...CAN.administer)
  async revoke(@CallerOf() caller: Caller, @Param('id') id: string): Promise<ApiKeyView> {
    return this.registry.store.revokeApiKey(caller, id);
  }
}
