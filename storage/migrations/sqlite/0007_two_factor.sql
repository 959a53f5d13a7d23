-- 0007 two-factor sign-in (issue 13): TOTP authenticators (secret sealed
-- with AES-GCM, last accepted time step for replay refusal), single-use
-- recovery codes stored as HMAC-SHA256 digests, and passkeys (WebAuthn
-- credential records).
CREATE TABLE IF NOT EXISTS totp_factors (
    user_id text,
    sealed blob NOT NULL,
    confirmed_at datetime,
    last_step integer NOT NULL DEFAULT 0,
    created_at datetime NOT NULL,
    updated_at datetime NOT NULL,
    PRIMARY KEY (user_id)
);

CREATE TABLE IF NOT EXISTS recovery_codes (
    user_id text,
    digest text,
    pepper_version integer NOT NULL,
    used_at datetime,
    created_at datetime NOT NULL,
    PRIMARY KEY (user_id, digest)
);

CREATE TABLE IF NOT EXISTS passkeys (
    id text,
    user_id text NOT NULL,
    name text NOT NULL,
    credential blob NOT NULL,
    created_at datetime NOT NULL,
    last_used_at datetime,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_passkeys_user_id ON passkeys (user_id);
