-- 0008 "expires soon" mail for API keys (issue 13): expiry_warned_at is
-- when the owner was mailed that the key expires soon (NULL = not yet).
-- Setting it is how an instance claims the mail, so a key is mailed
-- about once; extending the expiry past the warning window clears it.
ALTER TABLE api_keys ADD COLUMN expiry_warned_at datetime;
