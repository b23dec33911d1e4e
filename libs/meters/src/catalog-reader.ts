import type { MeterCatalog } from './meter-catalog';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The meter catalog as last read from where it is kept (aggregation's store, or aggregation
 * itself for ingestion), and reads of it that never miss a meter created before the asking:
 * `read` shares the read in flight if there is one; `refresh` answers with a read begun after the call, one read at a time, shared by everyone
 * waiting; `fresh` does the same no sooner than `minIntervalMs` after the previous read began.
 * Callers that meet an unknown key or event type use `fresh`, so a flood of them costs one read
 * per interval, not one per request.
 */
export class CatalogReader {
  private latest?: MeterCatalog;
  /** Reads begun so far; a read's number orders it against callers' asking. */
  private begun = 0;
  /** Number of the read `latest` came from. */
  private latestRead = 0;
  private lastBeganAtMs = Number.NEGATIVE_INFINITY;
  private inFlight?: { read: number; catalog: Promise<MeterCatalog> };

  constructor(
    private readonly load: () => Promise<MeterCatalog>,
    private readonly minIntervalMs: number,
  ) {}

  /** The catalog of the latest completed read, if any. */
  get current(): MeterCatalog | undefined {
    return this.latest;
  }

  /** The read in flight, or a new one: for periodic reads, which need nothing newer than now. */
  read(): Promise<MeterCatalog> {
    return this.inFlight?.catalog ?? this.begin();
  }

  /** A catalog read begun after this call. */
  refresh(): Promise<MeterCatalog> {
    return this.readAfter(this.begun);
  }

  /** A catalog read begun after this call, no sooner than `minIntervalMs` after the previous one began. */
  async fresh(): Promise<MeterCatalog> {
    const asked = this.begun;
    const wait = this.lastBeganAtMs + this.minIntervalMs - Date.now();
    if (wait > 0) await sleep(wait);
    return this.readAfter(asked);
  }

  private async readAfter(asked: number): Promise<MeterCatalog> {
    for (;;) {
      if (this.latest && this.latestRead > asked) return this.latest;
      if (!this.inFlight) return this.begin();
      if (this.inFlight.read > asked) return this.inFlight.catalog;
      // A read begun before the asking may miss what the caller looks for: wait, then read again.
      await this.inFlight.catalog.catch(() => undefined);
    }
  }

  private begin(): Promise<MeterCatalog> {
    const read = ++this.begun;
    this.lastBeganAtMs = Date.now();
    const catalog = this.load()
      .then((loaded) => {
        if (read > this.latestRead) {
          this.latest = loaded;
          this.latestRead = read;
        }
        return loaded;
      })
      .finally(() => {
        if (this.inFlight?.read === read) this.inFlight = undefined;
      });
    this.inFlight = { read, catalog };
    return catalog;
  }
}
