import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { DAY_MS, HOUR_MS, type RollupLedger } from '@metering/aggregation-data-access';
import type { ClickHouse, SqlFragment } from '@metering/clickhouse';
import { DEFAULT_METERS, MeterCatalog, toMeter, type Meter } from '@metering/meters';
import {
  CLICKHOUSE_MIGRATIONS_DIR,
  METER_VALUES_TABLE,
  SINK_RECEIPTS_TABLE,
  USAGE_EVENTS_TABLE,
} from '../clickhouse/usage-events.table';
import type { MeterCatalogService } from '../meters/meter-catalog.service';
import { ReconciliationService } from '../reconciliation/reconciliation.service';
import {
  USAGE_BUCKET_SUMS_TABLE,
  USAGE_DAILY_SUBJECTS_TABLE,
  USAGE_DAILY_TABLE,
  USAGE_HOURLY_TABLE,
  USAGE_PEAKS_TABLE,
  USAGE_SUBJECTS_TABLE,
  rebuildDayStatements,
  rebuildStatements,
} from '../rollups/rollup-tables';
import { USAGE_WINDOWS } from './usage-windows';
import { UsageService } from './usage.service';

/** Every ClickHouse table of aggregation: each holds several accounts' rows and is read for one. */
const ACCOUNT_TABLES = [
  METER_VALUES_TABLE,
  USAGE_EVENTS_TABLE,
  SINK_RECEIPTS_TABLE,
  USAGE_HOURLY_TABLE,
  USAGE_DAILY_TABLE,
  USAGE_PEAKS_TABLE,
  USAGE_SUBJECTS_TABLE,
  USAGE_DAILY_SUBJECTS_TABLE,
  USAGE_BUCKET_SUMS_TABLE,
];

const ACCOUNT = 'acct-a';

interface TableRead {
  table: string;
  /** The top-level `AND` terms of the read's WHERE clause, whitespace collapsed. */
  conjuncts: string[];
}

/** Index just past a quoted literal starting at `i` (backslash escapes, as `quoteString` writes). */
function skipLiteral(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === "'") return j + 1;
  }
  return text.length;
}

const CLAUSE_END = /^(GROUP BY|ORDER BY|UNION ALL|LIMIT|SETTINGS|FORMAT)\b/;

/**
 * The WHERE clause that follows position `start` at the same nesting depth, up to the clause that
 * ends it or the parenthesis closing the subquery; undefined when the read has no WHERE.
 */
function whereClauseAfter(text: string, start: number): string | undefined {
  const rest = text.slice(start).replace(/^\s+(FINAL\s+)?/, '');
  if (!rest.startsWith('WHERE')) return undefined;
  let depth = 0;
  let i = 'WHERE'.length;
  for (; i < rest.length; i++) {
    const ch = rest[i];
    if (ch === "'") {
      i = skipLiteral(rest, i) - 1;
    } else if (ch === '(') {
      depth++;
    } else if (ch === ')') {
      if (depth === 0) break;
      depth--;
    } else if (depth === 0 && /\s/.test(ch) && CLAUSE_END.test(rest.slice(i + 1))) {
      break;
    }
  }
  return rest.slice('WHERE'.length, i);
}

const normalized = (text: string) => text.replace(/\s+/g, ' ').trim();

/**
 * Splits a condition on its top-level `AND`s (never inside parentheses or literals). A top-level
 * `OR` binds looser than every `AND`, so such a condition is one term as a whole.
 */
function conjunctsOf(condition: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < condition.length; i++) {
    const ch = condition[i];
    if (ch === "'") i = skipLiteral(condition, i) - 1;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (depth === 0 && /^\sOR\s/.test(condition.slice(i, i + 4))) return [normalized(condition)];
    else if (depth === 0 && /^\sAND\s/.test(condition.slice(i, i + 5))) {
      parts.push(condition.slice(from, i));
      from = i + 5;
    }
  }
  parts.push(condition.slice(from));
  return parts.map(normalized);
}

/** Every read of a stored table in a statement, with its WHERE clause split into its conjuncts. */
function tableReads(text: string): TableRead[] {
  const reads: TableRead[] = [];
  for (const match of text.matchAll(/\b(?:FROM|JOIN)\s+`(\w+)`/g)) {
    const where = whereClauseAfter(text, match.index + match[0].length);
    reads.push({ table: match[1], conjuncts: where === undefined ? [] : conjunctsOf(where) });
  }
  return reads;
}

/** The reads that could see another account's rows: no top-level `account_id = '<account>'`. */
function unfilteredReads(statements: readonly string[], accountId: string): { table: string; sql: string }[] {
  const filter = `account_id = '${accountId}'`;
  return statements.flatMap((sql) =>
    tableReads(sql)
      .filter((read) => !read.conjuncts.includes(filter))
      .map((read) => ({ table: read.table, sql })),
  );
}

/**
 * A ClickHouse that records every statement and answers each SELECT with one row carrying every
 * column the usage queries read, so each code path runs to its last query.
 */
class RecordingClickHouse {
  readonly statements: string[] = [];

  query(statement: SqlFragment): Promise<unknown[]> {
    this.statements.push(statement.text);
    const hour = String(HOUR_MS * 500_000);
    return Promise.resolve([
      {
        tenant_id: 't-1',
        events: '2',
        total: '5',
        n: '1',
        owner: 't-1',
        v: '5',
        b: hour,
        peak: '5',
        at_peak: '5',
        h: hour,
      },
    ]);
  }

  command(statement: SqlFragment): Promise<void> {
    this.statements.push(statement.text);
    return Promise.resolve();
  }
}

/** The rollup ledger's answer: which whole hours are stale and which days are rolled up. */
function ledgerAnswering(state: { staleHours: number[]; currentDays: number[] }) {
  return {
    state: () => Promise.resolve(state),
    staleHours: () => Promise.resolve(state.staleHours),
  } as unknown as RollupLedger;
}

const meterShapes: Meter[] = [
  ...DEFAULT_METERS,
  toMeter({ key: 'm_sum', eventType: 'e.sum', aggregation: 'SUM', valueProperty: 'x' }),
  toMeter({ key: 'm_min', eventType: 'e.min', aggregation: 'MIN', valueProperty: 'x' }),
  toMeter({ key: 'm_avg', eventType: 'e.avg', aggregation: 'AVG', valueProperty: 'x' }),
  toMeter({ key: 'm_latest', eventType: 'e.latest', aggregation: 'LATEST', valueProperty: 'x' }),
  toMeter({
    key: 'm_users_distinct',
    eventType: 'e.user',
    aggregation: 'UNIQUE_COUNT',
    pooling: 'distinct-across-tenants',
  }),
  // Buckets that do not tile an hour are pooled per tenant, a query path of its own.
  toMeter({
    key: 'm_peak_7m',
    eventType: 'e.peak',
    aggregation: 'MAX',
    valueProperty: 'x',
    bucketSeconds: 420,
  }),
  toMeter({
    key: 'm_peak_2h',
    eventType: 'e.peak2',
    aggregation: 'MAX',
    valueProperty: 'x',
    bucketSeconds: 7200,
  }),
];

async function usageStatements(
  meter: Meter,
  query: Omit<Parameters<UsageService['usage']>[0], 'meter' | 'accountId'>,
  state: { staleHours: number[]; currentDays: number[] },
): Promise<string[]> {
  const ch = new RecordingClickHouse();
  const catalog = { get: (key: string) => Promise.resolve(meterShapes.find((m) => m.key === key)!) };
  const service = new UsageService(
    ch as unknown as ClickHouse,
    catalog as unknown as MeterCatalogService,
    ledgerAnswering(state),
  );
  await service.usage({ ...query, meter: meter.key, accountId: ACCOUNT });
  return ch.statements;
}

const START = Date.UTC(2026, 0, 5);

/** A usage query of any shape: any meter, tenant selection, range, window and rollup state. */
const usageShape = fc
  .record({
    meter: fc.constantFrom(...meterShapes),
    tenants: fc.oneof(
      fc.constant({}),
      fc.constant({ tenantId: 't-1' }),
      fc.constant({ tenantIds: ['t-1', 't-2'] }),
    ),
    // From inside an hour to up to four days later, so raw ends, hours and days all occur.
    fromMs: fc.integer({ min: 0, max: 2 * DAY_MS }).map((ms) => START + ms),
    lengthMs: fc.integer({ min: 1, max: 4 * DAY_MS }),
    window: fc.option(fc.constantFrom(...USAGE_WINDOWS.filter((w) => w !== 'minute')), { nil: undefined }),
    staleHours: fc.array(fc.integer({ min: 0, max: 6 * 24 }), { maxLength: 6 }),
    currentDays: fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 6 }),
  })
  .map(({ meter, tenants, fromMs, lengthMs, window, staleHours, currentDays }) => ({
    meter,
    query: { ...tenants, fromMs, toMs: fromMs + lengthMs, ...(window ? { window } : {}) },
    state: {
      staleHours: [...new Set(staleHours)].map((h) => START + h * HOUR_MS),
      currentDays: [...new Set(currentDays)].map((d) => START + d * DAY_MS),
    },
  }));

describe('ClickHouse account filter', () => {
  describe('the SQL inspection', () => {
    it('finds each table read with its top-level conditions', () => {
      expect(
        tableReads(
          "SELECT x FROM (SELECT a FROM `t1` FINAL WHERE account_id = 'a' AND (b = 1 OR c = ')') GROUP BY a) UNION ALL SELECT y FROM `t2`",
        ),
      ).toEqual([
        { table: 't1', conjuncts: ["account_id = 'a'", "(b = 1 OR c = ')')"] },
        { table: 't2', conjuncts: [] },
      ]);
    });

    it('flags reads without the filter, with it under or beside an OR, or with another account', () => {
      const statements = [
        "SELECT * FROM `meter_values` WHERE meter_key = 'm'",
        "SELECT * FROM `usage_hourly` FINAL WHERE (account_id = 'acct-a' OR 1)",
        "SELECT * FROM `usage_daily` WHERE account_id = 'acct-b' AND meter_key = 'm'",
        "SELECT * FROM `usage_subjects` WHERE account_id = 'acct-a' AND meter_key = 'm' OR tenant_id = 't'",
        "SELECT * FROM `usage_peaks` WHERE meter_key = 'm' AND account_id = 'acct-a'",
      ];
      expect(unfilteredReads(statements, ACCOUNT).map((r) => r.table)).toEqual([
        'meter_values',
        'usage_hourly',
        'usage_daily',
        'usage_subjects',
      ]);
    });
  });

  describe(UsageService.name, () => {
    it('filters every table read by the account, for every meter and query shape', async () => {
      const tablesRead = new Set<string>();
      await fc.assert(
        fc.asyncProperty(usageShape, async ({ meter, query, state }) => {
          const statements = await usageStatements(meter, query, state);
          expect(statements.length).toBeGreaterThan(0);
          for (const s of statements) for (const read of tableReads(s)) tablesRead.add(read.table);
          expect(unfilteredReads(statements, ACCOUNT)).toEqual([]);
        }),
        { numRuns: 300 },
      );
      // The shapes reached every table the usage queries read.
      expect([...tablesRead].sort()).toEqual(
        [
          METER_VALUES_TABLE,
          USAGE_HOURLY_TABLE,
          USAGE_DAILY_TABLE,
          USAGE_PEAKS_TABLE,
          USAGE_SUBJECTS_TABLE,
          USAGE_DAILY_SUBJECTS_TABLE,
          USAGE_BUCKET_SUMS_TABLE,
        ].sort(),
      );
    });

    it.each(meterShapes.map((m) => [m.key, m] as const))(
      'filters every read of meter %s over raw hours, hourly and daily rollups, per window',
      async (_key, meter) => {
        // Two days and a half: partial hours at both ends, a stale hour, one rolled-up day.
        const fromMs = START + 30 * 60_000;
        const statements = await usageStatements(
          meter,
          { fromMs, toMs: fromMs + 2 * DAY_MS + 12 * HOUR_MS, window: 'day' },
          { staleHours: [START + 5 * HOUR_MS], currentDays: [START + DAY_MS] },
        );
        expect(statements.length).toBeGreaterThan(0);
        expect(unfilteredReads(statements, ACCOUNT)).toEqual([]);
      },
    );
  });

  describe(ReconciliationService.name, () => {
    it("reads the sink's receipts, raw events, values and rollups of the account only", async () => {
      const ch = new RecordingClickHouse();
      const service = new ReconciliationService(
        ch as unknown as ClickHouse,
        ledgerAnswering({ staleHours: [], currentDays: [] }),
      );
      await service.hours(ACCOUNT, START, START + DAY_MS);
      expect(ch.statements.flatMap((s) => tableReads(s).map((r) => r.table)).sort()).toEqual(
        [SINK_RECEIPTS_TABLE, USAGE_EVENTS_TABLE, METER_VALUES_TABLE, USAGE_HOURLY_TABLE].sort(),
      );
      expect(unfilteredReads(ch.statements, ACCOUNT)).toEqual([]);
    });
  });

  describe('rollup rebuilds', () => {
    it("rebuild an account's hours and days from that account's rows only", () => {
      const statements = [
        ...rebuildStatements(
          ACCOUNT,
          [START, START + HOUR_MS, START + 30 * HOUR_MS],
          new MeterCatalog(meterShapes),
          1,
        ),
        ...rebuildDayStatements(ACCOUNT, START, 1),
      ].map((s) => s.text);
      const written = statements.map((s) => /INSERT INTO `(\w+)`/.exec(s)?.[1]);
      expect(new Set(written)).toEqual(
        new Set([
          USAGE_HOURLY_TABLE,
          USAGE_PEAKS_TABLE,
          USAGE_BUCKET_SUMS_TABLE,
          USAGE_SUBJECTS_TABLE,
          USAGE_DAILY_TABLE,
          USAGE_DAILY_SUBJECTS_TABLE,
        ]),
      );
      expect(unfilteredReads(statements, ACCOUNT)).toEqual([]);
      // The rows written are labelled with the account rebuilt, not taken from what was read.
      for (const s of statements) expect(s).toMatch(new RegExp(`SELECT '${ACCOUNT}',`));
    });
  });

  it('covers every table the migrations create, each keyed by account', () => {
    const created = new Map<string, string>();
    for (const file of readdirSync(CLICKHOUSE_MIGRATIONS_DIR)) {
      const ddl = readFileSync(path.join(CLICKHOUSE_MIGRATIONS_DIR, file), 'utf8');
      for (const m of ddl.matchAll(/CREATE TABLE IF NOT EXISTS (\w+)\s*\(([^;]*?)\)\s*ENGINE/g)) {
        created.set(m[1], m[2]);
      }
    }
    // `meter_values` was superseded by `meter_values_by_time` (migration 0006) and is read no more.
    expect([...created.keys()].filter((t) => t !== 'meter_values').sort()).toEqual(
      [...ACCOUNT_TABLES].sort(),
    );
    for (const [table, columns] of created)
      expect({ table, keyed: /\baccount_id String\b/.test(columns) }).toEqual({ table, keyed: true });
  });
});
