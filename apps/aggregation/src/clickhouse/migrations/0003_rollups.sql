-- Rollups of meter_values per account and hour, rebuilt from deduplicated raw rows by the rollup
-- builder (never incremented by the sink), so a rollup equals the deduplicated raw data of its
-- hour whatever the sink delivered twice. A rebuild writes every key of its hour again with a
-- newer built_at; reads take the newest row per key (FINAL). Hours are epoch-aligned
-- milliseconds (Int64), which no server time zone can shift.

-- Every meter: per tenant and hour, what sums, averages, minimums, maximums and latest values need.
CREATE TABLE IF NOT EXISTS usage_hourly
(
    account_id String,
    meter_key String,
    hour_ms Int64,
    tenant_id String,
    events UInt64,
    total Decimal(38, 0),
    min_v Int64,
    max_v Int64,
    last_t Int64,
    last_id String,
    last_v Int64,
    built_at UInt64
)
ENGINE = ReplacingMergeTree(built_at)
PARTITION BY intDiv(hour_ms, 2592000000)
ORDER BY (account_id, meter_key, hour_ms, tenant_id);

-- MAX gauges: each tenant's maximum per bucket (the part of a bucket within the hour, for
-- buckets longer than an hour), from which the pooled peak (max over buckets of the sum over
-- tenants) is taken.
CREATE TABLE IF NOT EXISTS usage_peaks
(
    account_id String,
    meter_key String,
    hour_ms Int64,
    bucket_ms Int64,
    tenant_id String,
    max_v Int64,
    events UInt64,
    built_at UInt64
)
ENGINE = ReplacingMergeTree(built_at)
PARTITION BY intDiv(hour_ms, 2592000000)
ORDER BY (account_id, meter_key, hour_ms, bucket_ms, tenant_id);

-- UNIQUE_COUNT meters: each tenant's distinct subjects per hour with the first time seen, so
-- distinct counts over any set of hours (and first-seen attribution across tenants) are exact.
CREATE TABLE IF NOT EXISTS usage_subjects
(
    account_id String,
    meter_key String,
    hour_ms Int64,
    tenant_id String,
    subject String,
    first_t Int64,
    built_at UInt64
)
ENGINE = ReplacingMergeTree(built_at)
PARTITION BY intDiv(hour_ms, 2592000000)
ORDER BY (account_id, meter_key, hour_ms, tenant_id, subject);
