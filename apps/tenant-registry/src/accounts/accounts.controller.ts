import { Body, Controller, Get, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { AccountView, Caller, Page } from '@metering/registry-data-access';
import { CAN } from '@metering/registry-domain';
import { CallerOf } from '../auth/caller.decorator';
import { Allow, ManagementAuthGuard } from '../auth/management-auth.guard';
import { RegistryService } from '../registry/registry.service';
import { CreateAccountDto, PageQueryDto, UpdateAccountDto } from './account.dto';

@ApiTags('accounts')
@ApiBearerAuth()
@UseGuards(ManagementAuthGuard)
@Controller('v1/accounts')
export class AccountsController {
  constructor(private readonly registry: RegistryService) {}

  @Post()
  @Allow(...CAN.platform)
  async create(@CallerOf() caller: Caller, @Body() body: CreateAccountDto): Promise<AccountView> {
    return await this.registry.store.createAccount(caller, body);
  }

  @Get()
  @Allow(...CAN.read)
  list(@CallerOf() caller: Caller, @Query() query: PageQueryDto): Promise<Page<AccountView>> {
    return this.registry.store.listAccounts(caller, query.cursor, query.limit ?? 50);
  }

  @Get(':id')
  @Allow(...CAN.read)
  get(@CallerOf() caller: Caller, @Param('id') id: string): Promise<AccountView> {
    return this.registry.store.getAccount(caller, id);
  }

  @Patch(':id')
  @Allow(...CAN.administer)
  async update(
    @CallerOf() caller: Caller,
    @Param('id') id: string,
    @Body() body: UpdateAccountDto,
  ): Promise<AccountView> {
    return await this.registry.store.updateAccount(caller, id, { kind: 'update', changes: body });
  }
}
