-- meter_values again, sorted by time within account and meter, so a query or a rollup rebuild
-- reads only the hours it asks for (ClickHouse 18.16 has no secondary indexes). Redelivered
-- copies of an event share every key column, so ReplacingMergeTree still folds them; reads
-- deduplicate by (tenant, event id) regardless. Existing rows are copied (a copy repeated after
-- a crash only adds duplicates, which reads fold); the old table is left for the operator to drop.
CREATE TABLE IF NOT EXISTS meter_values_by_time
(
    account_id String,
    tenant_id String,
    meter_key String,
    event_id String,
    time_ms Int64,
    time DateTime,
    subject String,
    value_nano Int64,
    received_at_ms Int64
)
ENGINE = ReplacingMergeTree(received_at_ms)
PARTITION BY toYYYYMM(time)
ORDER BY (account_id, meter_key, time_ms, tenant_id, event_id);

INSERT INTO meter_values_by_time
SELECT account_id, tenant_id, meter_key, event_id, time_ms, time, subject, value_nano, received_at_ms FROM meter_values;
