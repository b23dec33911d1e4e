import { Body, Controller, Get, Param, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { AppError } from '@metering/contracts';
import type { Caller } from '@metering/registry-data-access';
import { ACCOUNT_ROLES, CAN, type Role } from '@metering/registry-domain';
import { CallerOf } from '../auth/caller.decorator';
import { Allow, ManagementAuthGuard, type AuthenticatedRequest } from '../auth/management-auth.guard';
import { RegistryService } from '../registry/registry.service';

export class IssueManagementKeyDto {
  @ApiProperty({ enum: ACCOUNT_ROLES })
  @IsIn(ACCOUNT_ROLES)
  role!: (typeof ACCOUNT_ROLES)[number];

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(100)
  name?: string;
}

const RANK: Record<Role, number> = { 'platform-admin': 5, owner: 4, admin: 3, operator: 2, viewer: 1 };

@ApiTags('management-keys')
@ApiBearerAuth()
@UseGuards(ManagementAuthGuard)
@Controller('v1/accounts/:accountId/management-keys')
export class ManagementKeysController {
  constructor(private readonly registry: RegistryService) {}

  @Post()
  @Allow(...CAN.administer)
  async issue(
    @CallerOf() caller: Caller,
    @Req() req: AuthenticatedRequest,
    @Param('accountId') accountId: string,
    @Body() body: IssueManagementKeyDto,
  ) {
    // Nobody hands out more power than they hold.
    if (RANK[body.role] > RANK[req.principal!.role]) {
      throw new AppError(
        'forbidden',
        'forbidden',
        `role ${req.principal!.role} may not issue ${body.role} keys`,
        { field: 'role' },
      );
    }
    return await this.registry.store.issueManagementKey(caller, accountId, {
      role: body.role,
      name: body.name ?? body.role,
    });
  }

  @Get()
  @Allow(...CAN.administer)
  async list(@CallerOf() caller: Caller, @Param('accountId') accountId: string) {
    return { items: await this.registry.store.listManagementKeys(caller, accountId) };
  }
}
