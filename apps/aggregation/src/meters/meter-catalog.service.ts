import { Injectable } from '@nestjs/common';
import { AppError } from '@metering/contracts';
import { DEFAULT_METERS, MeterCatalog, type Meter } from '@metering/meters';

/** The meters in force: the platform's defaults (ARCHITECTURE.md §4). */
@Injectable()
export class MeterCatalogService {
  readonly catalog = new MeterCatalog(DEFAULT_METERS);

  list(): readonly Meter[] {
    return this.catalog.meters;
  }

  get(key: string): Meter {
    const meter = this.catalog.get(key);
    if (!meter) throw new AppError('not_found', 'meter_not_found', `no meter ${key}`, { field: 'meter' });
    return meter;
  }
}
