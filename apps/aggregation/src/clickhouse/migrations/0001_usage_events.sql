-- Raw usage events as ingestion accepted them. Times are epoch milliseconds (Int64) plus a
-- DateTime for partitioning: DateTime64 does not exist on ClickHouse 18.16.
-- ReplacingMergeTree folds redelivered copies of an event (same tenant and id) on merge;
-- queries deduplicate by event id so results are exact before merges happen too.
CREATE TABLE IF NOT EXISTS usage_events
(
    tenant_id String,
    account_id String,
    event_id String,
    event_type String,
    source String,
    subject String,
    time_ms Int64,
    time DateTime,
    data String,
    received_at_ms Int64
)
ENGINE = ReplacingMergeTree(received_at_ms)
PARTITION BY toYYYYMM(time)
ORDER BY (tenant_id, event_id);
