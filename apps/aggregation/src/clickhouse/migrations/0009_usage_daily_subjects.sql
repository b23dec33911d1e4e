-- Distinct subjects per account, meter, tenant and day with each one's first time, built from
-- usage_subjects with the day's daily rollup; distinct counts over whole days read these. A
-- subject seen in several hours of a day is one row, and a tenant's rows lie together, so each
-- tenant's set of subjects is counted in one go instead of a row at a time across all tenants'
-- sets (a month of 1,000 tenants and 1M subject rows: 62 ms instead of 133 ms; a single day of
-- them, which must now read the account's month, 22 ms instead of 6 ms). Existing days are
-- filled from usage_subjects (a fill repeated after a crash only adds copies, which reads fold:
-- they take distinct subjects and minimum first times, as for usage_subjects).
CREATE TABLE IF NOT EXISTS usage_daily_subjects
(
    account_id String,
    meter_key String,
    day_ms Int64,
    tenant_id String,
    subject String,
    first_t Int64,
    built_at UInt64
)
ENGINE = ReplacingMergeTree(built_at)
PARTITION BY intDiv(day_ms, 2592000000)
ORDER BY (account_id, meter_key, tenant_id, day_ms, subject);

INSERT INTO usage_daily_subjects
SELECT account_id, meter_key, intDiv(hour_ms, 86400000) * 86400000 AS day_ms, tenant_id, subject, min(first_t), max(built_at)
FROM usage_subjects
GROUP BY account_id, meter_key, day_ms, tenant_id, subject;
