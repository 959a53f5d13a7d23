-- 0010 remembered consent names the organization the person let the app act
-- in (issue 14): later grants on remembered consent are bound to the same
-- organization (NULL or '' = the personal account), never silently another.
ALTER TABLE consents ADD COLUMN org_id text;
