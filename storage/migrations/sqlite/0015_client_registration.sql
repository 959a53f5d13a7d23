-- 0015 dynamic client registration (issue 15; RFC 7591/7592).
-- A client created at POST /oauth/register is managed with its
-- registration access token: its HMAC digest (never the token) and the
-- pepper version it was made under. Other clients have none.
ALTER TABLE clients ADD COLUMN registration_token_digest blob;
ALTER TABLE clients ADD COLUMN registration_token_version integer NOT NULL DEFAULT 0;
