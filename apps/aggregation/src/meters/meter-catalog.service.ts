import { Injectable, type OnModuleInit } from '@nestjs/common';
import { MeterStore } from '@metering/aggregation-data-access';
import { AppError } from '@metering/contracts';
import {
  DEFAULT_METERS,
  MeterCatalog,
  meterProblems,
  toMeter,
  type Meter,
  type MeterDefinitionDto,
} from '@metering/meters';

/**
 * The meters in force: the platform's defaults plus those created over the API (Postgres).
 * Another instance may have created a meter: whoever meets an unknown key or event type reads
 * the store again before answering, so a new meter is never missed.
 */
@Injectable()
export class MeterCatalogService implements OnModuleInit {
  private current = new MeterCatalog(DEFAULT_METERS);

  constructor(private readonly store: MeterStore) {}

  async onModuleInit(): Promise<void> {
    await this.reload();
  }

  /** The catalog as last read. */
  get catalog(): MeterCatalog {
    return this.current;
  }

  async reload(): Promise<MeterCatalog> {
    this.current = new MeterCatalog([...DEFAULT_METERS, ...(await this.store.list())]);
    return this.current;
  }

  /** The catalog, read again first if it lacks one of `eventTypes`. */
  async catalogFor(eventTypes: Iterable<string>): Promise<MeterCatalog> {
    for (const type of eventTypes) if (!this.current.knows(type)) return this.reload();
    return this.current;
  }

  /** Every meter, read fresh (ingestion asks when it meets an event type it does not know). */
  async list(): Promise<readonly Meter[]> {
    return (await this.reload()).meters;
  }

  async get(key: string): Promise<Meter> {
    const meter = this.current.get(key) ?? (await this.reload()).get(key);
    if (!meter) throw new AppError('not_found', 'meter_not_found', `no meter ${key}`, { field: 'meter' });
    return meter;
  }

  async create(definition: MeterDefinitionDto): Promise<Meter> {
    const problems = meterProblems(definition);
    if (problems.length) {
      throw new AppError(
        'invalid',
        'validation_failed',
        'the meter definition is inconsistent',
        problems.map((p) => ({ field: p.field, reasons: [p.reason] })),
      );
    }
    if (DEFAULT_METERS.some((m) => m.key === definition.key)) {
      throw new AppError('conflict', 'meter_exists', `a meter ${definition.key} already exists`, {
        field: 'key',
      });
    }
    const meter = toMeter(definition);
    await this.store.create(meter);
    await this.reload();
    return meter;
  }
}
