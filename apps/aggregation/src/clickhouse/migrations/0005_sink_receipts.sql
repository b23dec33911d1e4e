-- What the sink consumed from Kafka, per account and event hour, redeliveries included: compared
-- with the distinct events stored, it makes a gap or a double count visible (GET /v1/reconciliation).
CREATE TABLE IF NOT EXISTS sink_receipts
(
    account_id String,
    hour_ms Int64,
    events UInt64,
    consumed_at_ms Int64
)
ENGINE = MergeTree
PARTITION BY intDiv(hour_ms, 2592000000)
ORDER BY (account_id, hour_ms);
