-- 0006 account self-service with email, and the session list (issue 13).
-- email_verified_at: when the person proved they read mail at users.email
-- (NULL = not verified); changing the address clears it.
-- email_tokens: the single-use links of verification and password-reset
-- mails, keyed by the SHA-256 of the link's token (the token itself is
-- never stored), with the address it was sent to and when it was used.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

CREATE TABLE IF NOT EXISTS email_tokens (
    digest varchar(64) NOT NULL,
    purpose varchar(16) NOT NULL,
    user_id varchar(64) NOT NULL,
    email varchar(254) NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    PRIMARY KEY (digest)
);
CREATE INDEX IF NOT EXISTS idx_email_tokens_user_id ON email_tokens (user_id);
CREATE INDEX IF NOT EXISTS idx_email_tokens_expires_at ON email_tokens (expires_at);

-- web_sessions: each browser sign-in session (its sid), listed on /account
-- where the person can sign any of them out (ended_at).
CREATE TABLE IF NOT EXISTS web_sessions (
    sid varchar(64) NOT NULL,
    user_id varchar(64) NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    user_agent varchar(200),
    ip varchar(64),
    ended_at timestamptz,
    PRIMARY KEY (sid)
);
CREATE INDEX IF NOT EXISTS idx_web_sessions_user_id ON web_sessions (user_id);
CREATE INDEX IF NOT EXISTS idx_web_sessions_expires_at ON web_sessions (expires_at);
