-- 0001 baseline: the schema GORM AutoMigrate created for storage.Models()
-- before versioned migrations. IF NOT EXISTS makes it a no-op on a database
-- created by an older Latchkey, which is then recorded at version 1.
-- Types are SQLite's as GORM wrote them: text, numeric (bool), integer,
-- datetime, blob; sizes are not enforced.

CREATE TABLE IF NOT EXISTS users (
    id text,
    username text NOT NULL,
    email text,
    name text,
    password_hash text NOT NULL,
    admin numeric NOT NULL DEFAULT false,
    sessions_not_before datetime,
    created_at datetime NOT NULL,
    updated_at datetime NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_users_username ON users (username);

CREATE TABLE IF NOT EXISTS clients (
    id text,
    secret_digest blob,
    secret_version integer NOT NULL DEFAULT 0,
    name text NOT NULL,
    owner_id text,
    redirect_uris text,
    grant_types text,
    response_types text,
    scopes text,
    audience text,
    public numeric NOT NULL DEFAULT false,
    tier text,
    token_endpoint_auth_method text,
    logo_uri text,
    client_uri text,
    created_at datetime NOT NULL,
    updated_at datetime NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_clients_owner_id ON clients (owner_id);

CREATE TABLE IF NOT EXISTS requests (
    kind text,
    signature text,
    request_id text NOT NULL,
    client_id text NOT NULL,
    subject text,
    access_signature text,
    active numeric NOT NULL,
    requested_at datetime NOT NULL,
    expires_at datetime NOT NULL,
    data blob NOT NULL,
    PRIMARY KEY (kind, signature)
);
CREATE INDEX IF NOT EXISTS idx_requests_request_id ON requests (request_id);
CREATE INDEX IF NOT EXISTS idx_requests_client_id ON requests (client_id);
CREATE INDEX IF NOT EXISTS idx_requests_subject ON requests (subject);
CREATE INDEX IF NOT EXISTS idx_requests_expires_at ON requests (expires_at);

CREATE TABLE IF NOT EXISTS consents (
    user_id text,
    client_id text,
    scopes text,
    created_at datetime NOT NULL,
    updated_at datetime NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX IF NOT EXISTS idx_consents_client_id ON consents (client_id);

CREATE TABLE IF NOT EXISTS used_jtis (
    jti text,
    expires_at datetime NOT NULL,
    PRIMARY KEY (jti)
);
CREATE INDEX IF NOT EXISTS idx_used_jtis_expires_at ON used_jtis (expires_at);

CREATE TABLE IF NOT EXISTS api_keys (
    id text,
    user_id text NOT NULL,
    handle text NOT NULL,
    alias text,
    display text NOT NULL,
    environment text NOT NULL,
    tier text NOT NULL,
    scopes text,
    digest blob NOT NULL,
    pepper_version integer NOT NULL,
    sealed blob,
    rotated_from text,
    created_at datetime NOT NULL,
    updated_at datetime NOT NULL,
    expires_at datetime,
    revoked_at datetime,
    last_used_at datetime,
    usage_count integer NOT NULL DEFAULT 0,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_api_keys_user_handle ON api_keys (user_id, handle);
CREATE UNIQUE INDEX IF NOT EXISTS idx_api_keys_digest ON api_keys (digest);
CREATE INDEX IF NOT EXISTS idx_api_keys_expires_at ON api_keys (expires_at);

CREATE TABLE IF NOT EXISTS key_events (
    id integer PRIMARY KEY AUTOINCREMENT,
    key_id text NOT NULL,
    user_id text NOT NULL,
    type text NOT NULL,
    ip text,
    detail text,
    at datetime NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_key_events_key_id ON key_events (key_id);
CREATE INDEX IF NOT EXISTS idx_key_events_user_id ON key_events (user_id);
CREATE INDEX IF NOT EXISTS idx_key_events_at ON key_events (at);
