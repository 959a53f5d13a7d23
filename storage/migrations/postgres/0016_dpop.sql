-- 0016 DPoP (RFC 9449, issue 15): a client registered with
-- dpop_bound_access_tokens (RFC 9449 §5.2) must present a DPoP proof at
-- every token request; its access tokens are always sender-constrained.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens boolean NOT NULL DEFAULT false;
