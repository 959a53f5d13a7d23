-- 0012 invalidation log: SQLite only. On PostgreSQL the same invalidations
-- travel by LISTEN/NOTIFY (storage/postgres), so there is no table to make;
-- this file keeps the two dialects' versions in step.
SELECT 1;
