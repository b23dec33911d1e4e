// Raw ceilings against the running local stack (`bash tools/stack/stack.sh up`): what Node alone
// gets from the stack's ClickHouse and Kafka with no platform code between, the rates the
// platform's throughput is compared with (tools/bench/report.mjs measures them in the same run):
//  1. raw ClickHouse insert from Node (@clickhouse/client): ROWS rows shaped like
//     meter_values_by_time in 10,000-row JSONEachRow inserts into a scratch table, dropped afterwards;
//  2. raw kafkajs produce with acks = all, for SECONDS with CONCURRENCY sends in flight: 500 records
//     per send as one message each, and for each size in --packs one message per send holding that
//     many records, the way ingestion publishes a request's events.
// Usage: node tools/bench/ceilings.mjs [--rows 300000] [--seconds 15] [--concurrency 16] [--packs 100,500]
import { readStackEnv } from '../stack/stack-env.mjs';
import {
  arg,
  clickHouseOf,
  kafkaCeilingId,
  kafkaOf,
  option,
  rawClickHouseInsertRate,
  rawKafkaProduceRate,
  reporter,
} from './bench-kit.mjs';

const ROWS = arg('rows', 300_000);
const SECONDS = arg('seconds', 15);
const CONCURRENCY = arg('concurrency', 16);
const PACKS = option('packs', '100,500').split(',').map(Number);
const PER_SEND = 500;

const env = readStackEnv();
const report = reporter('ceilings', { rows: ROWS, seconds: SECONDS, concurrency: CONCURRENCY, packs: PACKS });
const n = (v) => Math.round(v).toLocaleString('en');

async function main() {
  const ch = clickHouseOf(env);
  try {
    const rate = await rawClickHouseInsertRate(ch, { rows: ROWS });
    console.log(
      `raw ClickHouse insert from Node: ${n(rate)} rows/s (${n(ROWS)} rows, 10,000-row JSONEachRow inserts)`,
    );
    report({
      name: 'raw ClickHouse insert from Node',
      value: rate,
      unit: 'rows/s',
      ceilingId: 'clickhouse-insert',
      note: `@clickhouse/client, ${n(ROWS)} rows in 10,000-row JSONEachRow inserts into a scratch table (dropped)`,
    });
  } finally {
    await ch.close();
  }
  const kafka = kafkaOf(env, 'bench-ceilings');
  const runs = [{ pack: 0, batch: PER_SEND }, ...PACKS.map((pack) => ({ pack, batch: pack }))];
  for (const { pack, batch } of runs) {
    const rate = await rawKafkaProduceRate(kafka, {
      seconds: SECONDS,
      concurrency: CONCURRENCY,
      batch,
      packed: pack > 0,
    });
    const shape = pack ? `${pack} events per message` : 'one message per event';
    console.log(`raw kafkajs produce (acks = all), ${shape}: ${n(rate)} events/s`);
    report({
      name: `raw kafkajs produce, acks = all, ${shape}`,
      value: rate,
      unit: 'events/s',
      ceilingId: kafkaCeilingId(pack),
      note: `${CONCURRENCY} sends in flight of ${batch} events, ${SECONDS} s`,
    });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
