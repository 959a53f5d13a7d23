-- 0015: PLACEHOLDER so versions run without gaps on branch dpop. Another branch
-- owns migration 0015; the lead drops this file when merging.
SELECT 1;
