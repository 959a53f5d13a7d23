-- 0013 JWT access tokens, signing-key rotation and JWT client
-- authentication (issue 15).
-- signing_keys holds every key that signs ID tokens and JWT access tokens:
-- the private key PKCS#8 DER, sealed with AES-256-GCM under a key derived
-- from the HMAC secret (never in plain text). The newest key without
-- retired_at signs; a retired key stays published in the JWKS until every
-- token it signed has expired.
CREATE TABLE IF NOT EXISTS signing_keys (
    kid text,
    alg text NOT NULL,
    private_key_sealed blob NOT NULL,
    created_at datetime NOT NULL,
    retired_at datetime,
    PRIMARY KEY (kid)
);

-- Per-client RFC 9068 JWT access tokens, and the client's keys for
-- private_key_jwt (RFC 7523 §2.2): an inline JWK Set or a jwks_uri, and the
-- algorithm its assertions use. client_secret_jwt keeps the secret sealed
-- (the HMAC key of its assertions), never in plain text.
ALTER TABLE clients ADD COLUMN jwt_access_tokens numeric NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN jwks text;
ALTER TABLE clients ADD COLUMN jwks_uri text;
ALTER TABLE clients ADD COLUMN token_endpoint_auth_signing_alg text;
ALTER TABLE clients ADD COLUMN secret_sealed blob;
