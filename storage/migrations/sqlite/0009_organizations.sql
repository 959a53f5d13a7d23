-- 0009 organizations, tenants and roles (issue 14): organizations with
-- members (owner, admin, member, viewer), tenants (workspaces) and
-- per-tenant grants, single-use invitations (HMAC digest of the link's
-- token), an audit log; API keys bound to an organization (personal keys)
-- or owned by a tenant (workspace keys); apps owned by an organization;
-- suspension of users and organizations by an instance administrator.
CREATE TABLE IF NOT EXISTS organizations (
    id text,
    name text NOT NULL,
    tier text,
    suspended_at datetime,
    created_at datetime NOT NULL,
    updated_at datetime NOT NULL,
    PRIMARY KEY (id)
);

CREATE TABLE IF NOT EXISTS memberships (
    org_id text,
    user_id text,
    role text NOT NULL,
    created_at datetime NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX IF NOT EXISTS idx_memberships_user_id ON memberships (user_id);

CREATE TABLE IF NOT EXISTS tenants (
    id text,
    org_id text NOT NULL,
    name text NOT NULL,
    created_at datetime NOT NULL,
    updated_at datetime NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_tenants_org_name ON tenants (org_id, name);

CREATE TABLE IF NOT EXISTS tenant_grants (
    tenant_id text,
    user_id text,
    org_id text NOT NULL,
    role text NOT NULL,
    created_at datetime NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX IF NOT EXISTS idx_tenant_grants_org_user ON tenant_grants (org_id, user_id);

CREATE TABLE IF NOT EXISTS invitations (
    id text,
    org_id text NOT NULL,
    email text,
    role text NOT NULL,
    digest blob NOT NULL,
    pepper_version integer NOT NULL,
    invited_by text NOT NULL,
    created_at datetime NOT NULL,
    expires_at datetime NOT NULL,
    accepted_at datetime,
    accepted_by text,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_invitations_org_id ON invitations (org_id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_invitations_digest ON invitations (digest);

CREATE TABLE IF NOT EXISTS org_events (
    id integer PRIMARY KEY AUTOINCREMENT,
    org_id text NOT NULL,
    actor_id text,
    type text NOT NULL,
    target text,
    detail text,
    ip text,
    at datetime NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_org_events_org_at ON org_events (org_id, at);

ALTER TABLE api_keys ADD COLUMN org_id text;
ALTER TABLE api_keys ADD COLUMN tenant_id text;
ALTER TABLE api_keys ADD COLUMN tenants text;
ALTER TABLE api_keys ADD COLUMN created_by text;
CREATE INDEX IF NOT EXISTS idx_api_keys_org_id ON api_keys (org_id);
CREATE INDEX IF NOT EXISTS idx_api_keys_tenant_id ON api_keys (tenant_id);

ALTER TABLE clients ADD COLUMN org_id text;
CREATE INDEX IF NOT EXISTS idx_clients_org_id ON clients (org_id);

ALTER TABLE users ADD COLUMN suspended_at datetime;
