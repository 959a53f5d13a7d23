-- 0014 device authorization grant (RFC 8628, issue 15): one row per
-- request from POST /oauth/device_authorization, keyed by the HMAC digest
-- of its device code, with the digest of its user code (neither code is
-- stored), the polling state (slow_down raises poll_interval), and once
-- the person decided on /device, who and the grant to issue. Purged by the
-- janitor after expires_at.
CREATE TABLE IF NOT EXISTS device_authorizations (
    device_digest text,
    user_digest text NOT NULL,
    client_id text NOT NULL,
    scopes text,
    status text NOT NULL,
    poll_interval integer NOT NULL,
    polls integer NOT NULL DEFAULT 0,
    last_polled_at datetime,
    user_id text,
    grant_data text,
    created_at datetime NOT NULL,
    expires_at datetime NOT NULL,
    decided_at datetime,
    PRIMARY KEY (device_digest)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_device_authorizations_user_digest ON device_authorizations (user_digest);
CREATE INDEX IF NOT EXISTS idx_device_authorizations_client_id ON device_authorizations (client_id);
CREATE INDEX IF NOT EXISTS idx_device_authorizations_expires_at ON device_authorizations (expires_at);
