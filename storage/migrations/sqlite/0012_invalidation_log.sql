-- 0012 invalidation log (issue 14): every write that makes a cached record
-- stale (an API key revoked, a member removed, an organization suspended,
-- a user suspended, ...) also appends a row here in the same transaction,
-- and every process serving this SQLite file polls the log and drops what
-- other processes changed (the CLI, a second `latchkey serve`). This is
-- SQLite's invalidation bus, what LISTEN/NOTIFY is on PostgreSQL; it lets
-- the read caches live for storage.cache_ttl without missing another
-- process's changes. Rows are pruned by the writers after ten minutes.
CREATE TABLE IF NOT EXISTS invalidation_log (
    seq integer PRIMARY KEY AUTOINCREMENT,
    topic text NOT NULL,
    record_id text NOT NULL,
    origin text NOT NULL,
    created_at datetime NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_invalidation_log_created_at ON invalidation_log (created_at);
