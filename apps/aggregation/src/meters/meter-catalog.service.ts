import { Injectable, type OnModuleInit } from '@nestjs/common';
import { MeterStore } from '@metering/aggregation-data-access';
import { AppError } from '@metering/contracts';
import {
  CatalogReader,
  DEFAULT_METERS,
  MeterCatalog,
  meterProblems,
  toMeter,
  type Meter,
  type MeterDefinitionDto,
} from '@metering/meters';

/** An unknown meter key or event type reads the store again at most this often. */
const MIN_REREAD_MS = 1_000;

/**
 * The meters in force: the platform's defaults plus those created over the API (Postgres).
 * Another instance may have created a meter: whoever meets an unknown key or event type reads
 * the store again before answering (at most once a second however many do), so a new meter is
 * never missed and unknown keys cannot drive reads of the store.
 */
@Injectable()
export class MeterCatalogService implements OnModuleInit {
  private readonly reader = new CatalogReader(
    async () => new MeterCatalog([...DEFAULT_METERS, ...(await this.store.list())]),
    MIN_REREAD_MS,
  );

  constructor(private readonly store: MeterStore) {}

  async onModuleInit(): Promise<void> {
    await this.reader.refresh();
  }

  /** The catalog as last read. */
  get catalog(): MeterCatalog {
    return this.reader.current ?? new MeterCatalog(DEFAULT_METERS);
  }

  /** The catalog read again (a periodic job's read; shares one in flight). */
  reload(): Promise<MeterCatalog> {
    return this.reader.read();
  }

  /** The catalog, read again first if it lacks one of `eventTypes`. */
  async catalogFor(eventTypes: Iterable<string>): Promise<MeterCatalog> {
    const current = this.catalog;
    for (const type of eventTypes) if (!current.knows(type)) return this.reader.fresh();
    return current;
  }

  /** The meter of `key` if there is one, reading the store again when the catalog lacks it. */
  async find(key: string): Promise<Meter | undefined> {
    return this.catalog.get(key) ?? (await this.reader.fresh()).get(key);
  }

  /** Every meter, read fresh (ingestion asks when it meets an event type it does not know). */
  async list(): Promise<readonly Meter[]> {
    return (await this.reader.refresh()).meters;
  }

  async get(key: string): Promise<Meter> {
    const meter = await this.find(key);
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
    await this.reader.refresh();
    return meter;
  }
}
