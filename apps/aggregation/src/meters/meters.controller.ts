import { Body, Controller, Get, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CAN } from '@metering/contracts';
import { MeterDefinitionDto, type Meter } from '@metering/meters';
import { Allow, ManagementKeyGuard } from '@metering/registry-client';
import { MeterCatalogService } from './meter-catalog.service';

@ApiTags('meters')
@ApiBearerAuth()
@UseGuards(ManagementKeyGuard)
@Allow(...CAN.read)
@Controller('v1/meters')
export class MetersController {
  constructor(private readonly meters: MeterCatalogService) {}

  @Post()
  @Allow('platform-admin')
  @ApiOperation({ summary: 'Create a meter (immutable once created); its events are accepted at once' })
  create(@Body() definition: MeterDefinitionDto): Promise<Meter> {
    return this.meters.create(definition);
  }

  @Get()
  @ApiOperation({ summary: 'The meter catalog: which events each meter counts and how' })
  async list(): Promise<{ meters: readonly Meter[] }> {
    return { meters: await this.meters.list() };
  }

  @Get(':key')
  @ApiOperation({ summary: 'One meter' })
  get(@Param('key') key: string): Promise<Meter> {
    return this.meters.get(key);
  }
}
