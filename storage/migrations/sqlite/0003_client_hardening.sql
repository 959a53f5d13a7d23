-- 0003 client hardening (issue 10).
-- require_pkce: authorization requests without a PKCE challenge are refused.
-- New clients get it by default (the CLI and /apps); existing public
-- clients already had PKCE enforced and keep it, existing confidential
-- clients are left as they were (false) so they do not break; an operator
-- turns it on per client.
-- resource_server: may introspect any token and API key; no existing
-- client gets it (set it with `latchkey client create --resource-server`).
ALTER TABLE clients ADD COLUMN require_pkce numeric NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN resource_server numeric NOT NULL DEFAULT false;
UPDATE clients SET require_pkce = true WHERE public = true;

-- OpenID Connect sessions were keyed by the raw authorization code
-- (ory_ac_<key>.<signature>); they are keyed by the code's signature now,
-- like every other record, so no usable code is stored.
UPDATE requests SET signature = substr(signature, instr(signature, '.') + 1)
    WHERE kind = 'oidc' AND instr(signature, '.') > 0;
