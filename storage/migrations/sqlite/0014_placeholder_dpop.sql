-- 0014: PLACEHOLDER so versions run without gaps on branch dpop. Another branch
-- owns migration 0014; the lead drops this file when merging.
SELECT 1;
