-- MAX gauges whose bucket divides an hour: per account and bucket, the sum over tenants of each
-- tenant's maximum in the bucket, so the pooled peak (the largest such sum) is read from one row
-- per bucket instead of one per tenant and bucket. Rebuilt with the other rollups of its hour.
CREATE TABLE IF NOT EXISTS usage_bucket_sums
(
    account_id String,
    meter_key String,
    hour_ms Int64,
    bucket_ms Int64,
    total Decimal(38, 0),
    built_at UInt64
)
ENGINE = ReplacingMergeTree(built_at)
PARTITION BY intDiv(hour_ms, 2592000000)
ORDER BY (account_id, meter_key, hour_ms, bucket_ms);
