import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { DAY_MS, RollupLedger, type StaleHour } from '@metering/aggregation-data-access';
import { ClickHouse } from '@metering/clickhouse';
import type { MeterCatalog } from '@metering/meters';
import { LOGGER, Metrics, type Logger } from '@metering/observability';
import type { Counter } from 'prom-client';
import { AggregationConfig } from '../config';
import { MeterCatalogService } from '../meters/meter-catalog.service';
import { rebuildDayStatements, rebuildStatements } from './rollup-tables';

/**
 * Rebuilds the rollups of stale account-hours from deduplicated raw data. Any instance may run
 * it; two instances rebuilding the same hour write the same rows, so no coordination is needed.
 */
@Injectable()
export class RollupWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly rebuilt: Counter<'outcome'>;

  constructor(
    private readonly ledger: RollupLedger,
    private readonly ch: ClickHouse,
    private readonly meters: MeterCatalogService,
    private readonly config: AggregationConfig,
    metrics: Metrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.rebuilt = metrics.counter('rollup_hours_rebuilt_total', 'Account-hours whose rollups were rebuilt', [
      'outcome',
    ]);
  }

  onApplicationBootstrap(): void {
    if (this.config.ROLLUP_INTERVAL_MS === 0) return;
    this.timer = setInterval(() => {
      this.running ??= this.runOnce()
        .then(() => undefined)
        .catch((err: unknown) => this.logger.warn({ err }, 'rollup rebuild failed; retrying'))
        .finally(() => (this.running = undefined));
    }, this.config.ROLLUP_INTERVAL_MS);
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Rebuilds the hours that are due; returns how many. */
  async runOnce(): Promise<number> {
    const due = await this.ledger.due(
      this.config.ROLLUP_BATCH_HOURS,
      this.config.ROLLUP_SETTLE_MS,
      this.config.ROLLUP_MAX_STALE_MS,
    );
    if (due.length === 0) return 0;
    // Read fresh: a gauge or unique-count meter created on another instance needs its rollups.
    const catalog = await this.meters.reload();
    const byAccount = new Map<string, StaleHour[]>();
    for (const hour of due) byAccount.set(hour.accountId, [...(byAccount.get(hour.accountId) ?? []), hour]);
    for (const [accountId, hours] of byAccount) {
      // A day at a time: one statement's work (its GROUP BY) stays bounded however far behind,
      // and the day's daily rollup is rebuilt from its hours before their marks are cleared.
      const byDay = new Map<number, StaleHour[]>();
      for (const h of hours) {
        const day = Math.floor(h.hourMs / DAY_MS) * DAY_MS;
        byDay.set(day, [...(byDay.get(day) ?? []), h]);
      }
      for (const [day, dayHours] of byDay) await this.rebuild(accountId, day, dayHours, catalog);
    }
    return due.length;
  }

  /** One pass over the account's raw rows per rollup table for these hours of one day, then the day. */
  private async rebuild(
    accountId: string,
    day: number,
    hours: StaleHour[],
    catalog: MeterCatalog,
  ): Promise<void> {
    const builtAt = Date.now();
    const statements = [
      ...rebuildStatements(
        accountId,
        hours.map((h) => h.hourMs),
        catalog,
        builtAt,
      ),
      ...rebuildDayStatements(accountId, day, builtAt),
    ];
    try {
      for (const statement of statements) await this.ch.command(statement);
    } catch (err) {
      this.rebuilt.inc({ outcome: 'failed' }, hours.length);
      throw err;
    }
    await this.ledger.dayBuilt(accountId, day);
    for (const hour of hours) await this.ledger.clear(hour);
    this.rebuilt.inc({ outcome: 'ok' }, hours.length);
  }
}
