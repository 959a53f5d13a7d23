-- 0001 baseline: the schema GORM AutoMigrate created for storage.Models()
-- before versioned migrations. IF NOT EXISTS makes it a no-op on a database
-- created by an older Latchkey, which is then recorded at version 1.
-- GORM mapped Go int to bigint, bool to boolean, time.Time to timestamptz,
-- []byte to bytea, size:N strings to varchar(N) and other strings to text;
-- primary keys get PostgreSQL's default <table>_pkey names.

CREATE TABLE IF NOT EXISTS users (
    id varchar(64) NOT NULL,
    username varchar(64) NOT NULL,
    email varchar(254),
    name varchar(200),
    password_hash text NOT NULL,
    admin boolean NOT NULL DEFAULT false,
    sessions_not_before timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_users_username ON users (username);

CREATE TABLE IF NOT EXISTS clients (
    id varchar(64) NOT NULL,
    secret_digest bytea,
    secret_version bigint NOT NULL DEFAULT 0,
    name varchar(200) NOT NULL,
    owner_id varchar(64),
    redirect_uris text,
    grant_types text,
    response_types text,
    scopes text,
    audience text,
    public boolean NOT NULL DEFAULT false,
    tier varchar(32),
    token_endpoint_auth_method varchar(32),
    logo_uri varchar(2000),
    client_uri varchar(2000),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_clients_owner_id ON clients (owner_id);

CREATE TABLE IF NOT EXISTS requests (
    kind varchar(16) NOT NULL,
    signature varchar(128) NOT NULL,
    request_id varchar(64) NOT NULL,
    client_id varchar(64) NOT NULL,
    subject varchar(64),
    access_signature varchar(128),
    active boolean NOT NULL,
    requested_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (kind, signature)
);
CREATE INDEX IF NOT EXISTS idx_requests_request_id ON requests (request_id);
CREATE INDEX IF NOT EXISTS idx_requests_client_id ON requests (client_id);
CREATE INDEX IF NOT EXISTS idx_requests_subject ON requests (subject);
CREATE INDEX IF NOT EXISTS idx_requests_expires_at ON requests (expires_at);

CREATE TABLE IF NOT EXISTS consents (
    user_id varchar(64) NOT NULL,
    client_id varchar(64) NOT NULL,
    scopes text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX IF NOT EXISTS idx_consents_client_id ON consents (client_id);

CREATE TABLE IF NOT EXISTS used_jtis (
    jti varchar(128) NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (jti)
);
CREATE INDEX IF NOT EXISTS idx_used_jtis_expires_at ON used_jtis (expires_at);

CREATE TABLE IF NOT EXISTS api_keys (
    id varchar(64) NOT NULL,
    user_id varchar(64) NOT NULL,
    handle varchar(64) NOT NULL,
    alias varchar(200),
    display varchar(64) NOT NULL,
    environment varchar(8) NOT NULL,
    tier varchar(32) NOT NULL,
    scopes text,
    digest bytea NOT NULL,
    pepper_version bigint NOT NULL,
    sealed bytea,
    rotated_from varchar(64),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz,
    last_used_at timestamptz,
    usage_count bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_api_keys_user_handle ON api_keys (user_id, handle);
CREATE UNIQUE INDEX IF NOT EXISTS idx_api_keys_digest ON api_keys (digest);
CREATE INDEX IF NOT EXISTS idx_api_keys_expires_at ON api_keys (expires_at);

-- bigserial: a bigint with the sequence key_events_id_seq owned by the column.
CREATE TABLE IF NOT EXISTS key_events (
    id bigserial NOT NULL,
    key_id varchar(64) NOT NULL,
    user_id varchar(64) NOT NULL,
    type varchar(32) NOT NULL,
    ip varchar(64),
    detail varchar(500),
    at timestamptz NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_key_events_key_id ON key_events (key_id);
CREATE INDEX IF NOT EXISTS idx_key_events_user_id ON key_events (user_id);
CREATE INDEX IF NOT EXISTS idx_key_events_at ON key_events (at);
