-- 0011 usage aggregate (issue 17; after organizations 0009 and consent 0010):
-- requests per subject (API key, OAuth client, instance)
-- and outcome, in hour and day slots, added to by the batched usage flush
-- and purged by the janitor past each bucket's retention.
CREATE TABLE IF NOT EXISTS usage_counts (
    subject text,
    subject_id text,
    bucket text,
    bucket_start datetime,
    outcome text,
    count integer NOT NULL DEFAULT 0,
    PRIMARY KEY (subject, subject_id, bucket, bucket_start, outcome)
);

CREATE INDEX IF NOT EXISTS idx_usage_counts_bucket_start ON usage_counts (bucket, bucket_start);
