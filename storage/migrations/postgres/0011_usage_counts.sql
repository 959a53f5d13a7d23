-- 0011 usage aggregate (issue 17; after organizations 0009 and consent 0010):
-- requests per subject (API key, OAuth client, instance)
-- and outcome, in hour and day slots, added to by the batched usage flush
-- and purged by the janitor past each bucket's retention.
CREATE TABLE IF NOT EXISTS usage_counts (
    subject varchar(8) NOT NULL,
    subject_id varchar(64) NOT NULL,
    bucket varchar(8) NOT NULL,
    bucket_start timestamptz NOT NULL,
    outcome varchar(32) NOT NULL,
    count bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (subject, subject_id, bucket, bucket_start, outcome)
);

CREATE INDEX IF NOT EXISTS idx_usage_counts_bucket_start ON usage_counts (bucket, bucket_start);
