-- 0005 client secret grace (issue 13 item 4).
-- A secret rotation may keep the replaced secret working for a grace
-- period: its HMAC digest (never the secret), pepper version and the
-- moment it stops. Existing clients have no previous secret.
ALTER TABLE clients ADD COLUMN previous_secret_digest blob;
ALTER TABLE clients ADD COLUMN previous_secret_version integer NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at datetime;
