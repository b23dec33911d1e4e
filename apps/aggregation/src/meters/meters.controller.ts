import { Controller, Get, Param, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CAN } from '@metering/contracts';
import type { Meter } from '@metering/meters';
import { Allow, ManagementKeyGuard } from '@metering/registry-client';
import { MeterCatalogService } from './meter-catalog.service';

@ApiTags('meters')
@ApiBearerAuth()
@UseGuards(ManagementKeyGuard)
@Allow(...CAN.read)
@Controller('v1/meters')
export class MetersController {
  constructor(private readonly meters: MeterCatalogService) {}

  @Get()
  @ApiOperation({ summary: 'The meter catalog: which events each meter counts and how' })
  list(): { meters: readonly Meter[] } {
    return { meters: this.meters.list() };
  }

  @Get(':key')
  @ApiOperation({ summary: 'One meter' })
  get(@Param('key') key: string): Meter {
    return this.meters.get(key);
  }
}
