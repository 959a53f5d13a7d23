-- 0005: reserved, no change. Migration numbers run without gaps; 0005 was set aside for
-- another branch (issue 13) and 0006 is account email. Replace this file if that branch
-- brings its own 0005, or drop it and renumber 0006.
SELECT 1;
