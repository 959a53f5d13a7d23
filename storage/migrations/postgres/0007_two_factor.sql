-- 0007 two-factor sign-in (issue 13): TOTP authenticators (secret sealed
-- with AES-GCM, last accepted time step for replay refusal), single-use
-- recovery codes stored as HMAC-SHA256 digests, and passkeys (WebAuthn
-- credential records).
CREATE TABLE IF NOT EXISTS totp_factors (
    user_id varchar(64) NOT NULL,
    sealed bytea NOT NULL,
    confirmed_at timestamptz,
    last_step bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (user_id)
);

CREATE TABLE IF NOT EXISTS recovery_codes (
    user_id varchar(64) NOT NULL,
    digest varchar(64) NOT NULL,
    pepper_version bigint NOT NULL,
    used_at timestamptz,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, digest)
);

CREATE TABLE IF NOT EXISTS passkeys (
    id varchar(1400) NOT NULL,
    user_id varchar(64) NOT NULL,
    name varchar(100) NOT NULL,
    credential bytea NOT NULL,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_passkeys_user_id ON passkeys (user_id);
