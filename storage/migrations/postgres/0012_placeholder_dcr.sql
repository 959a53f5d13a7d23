-- 0012: PLACEHOLDER so versions run without gaps on branch dcr. Another branch
-- owns migration 0012; the lead drops this file when merging.
SELECT 1;
