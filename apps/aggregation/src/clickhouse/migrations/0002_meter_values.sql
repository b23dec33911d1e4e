-- One row per (event, meter that counts it): the meter's value as exact nano-units (Int64,
-- 9 decimal places; sums are taken as Decimal128, which 18.16 has). COUNT rows carry one unit,
-- UNIQUE_COUNT rows the subject. Redelivered copies fold on merge; queries deduplicate by
-- (tenant, event id) so results are exact before merges too.
CREATE TABLE IF NOT EXISTS meter_values
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
ORDER BY (account_id, meter_key, tenant_id, event_id);
