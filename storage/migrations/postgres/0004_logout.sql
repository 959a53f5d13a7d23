-- 0004 logout (issue 12 item 4): OpenID Connect RP-Initiated Logout 1.0 and
-- Back-Channel Logout 1.0.
-- Clients register where logout may return the person and where logout
-- tokens go; existing clients have neither.
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris text;
ALTER TABLE clients ADD COLUMN backchannel_logout_uri varchar(2000);
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required boolean NOT NULL DEFAULT false;

-- Which clients each sign-in session (sid) issued codes to: they are sent
-- a logout token when the session ends.
CREATE TABLE IF NOT EXISTS session_clients (
    sid varchar(64) NOT NULL,
    client_id varchar(64) NOT NULL,
    user_id varchar(64) NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (sid, client_id)
);
CREATE INDEX IF NOT EXISTS idx_session_clients_user_id ON session_clients (user_id);
