-- 0009 organizations, tenants and roles (issue 14): organizations with
-- members (owner, admin, member, viewer), tenants (workspaces) and
-- per-tenant grants, single-use invitations (HMAC digest of the link's
-- token), an audit log; API keys bound to an organization (personal keys)
-- or owned by a tenant (workspace keys); apps owned by an organization;
-- suspension of users and organizations by an instance administrator.
CREATE TABLE IF NOT EXISTS organizations (
    id varchar(64) NOT NULL,
    name varchar(100) NOT NULL,
    tier varchar(32),
    suspended_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (id)
);

CREATE TABLE IF NOT EXISTS memberships (
    org_id varchar(64) NOT NULL,
    user_id varchar(64) NOT NULL,
    role varchar(16) NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX IF NOT EXISTS idx_memberships_user_id ON memberships (user_id);

CREATE TABLE IF NOT EXISTS tenants (
    id varchar(64) NOT NULL,
    org_id varchar(64) NOT NULL,
    name varchar(100) NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_tenants_org_name ON tenants (org_id, name);

CREATE TABLE IF NOT EXISTS tenant_grants (
    tenant_id varchar(64) NOT NULL,
    user_id varchar(64) NOT NULL,
    org_id varchar(64) NOT NULL,
    role varchar(16) NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX IF NOT EXISTS idx_tenant_grants_org_user ON tenant_grants (org_id, user_id);

CREATE TABLE IF NOT EXISTS invitations (
    id varchar(64) NOT NULL,
    org_id varchar(64) NOT NULL,
    email varchar(254),
    role varchar(16) NOT NULL,
    digest bytea NOT NULL,
    pepper_version bigint NOT NULL,
    invited_by varchar(64) NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by varchar(64),
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_invitations_org_id ON invitations (org_id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_invitations_digest ON invitations (digest);

CREATE TABLE IF NOT EXISTS org_events (
    id bigserial NOT NULL,
    org_id varchar(64) NOT NULL,
    actor_id varchar(64),
    type varchar(32) NOT NULL,
    target varchar(64),
    detail varchar(500),
    ip varchar(64),
    at timestamptz NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_org_events_org_at ON org_events (org_id, at);

ALTER TABLE api_keys ADD COLUMN org_id varchar(64);
ALTER TABLE api_keys ADD COLUMN tenant_id varchar(64);
ALTER TABLE api_keys ADD COLUMN tenants text;
ALTER TABLE api_keys ADD COLUMN created_by varchar(64);
CREATE INDEX IF NOT EXISTS idx_api_keys_org_id ON api_keys (org_id);
CREATE INDEX IF NOT EXISTS idx_api_keys_tenant_id ON api_keys (tenant_id);

ALTER TABLE clients ADD COLUMN org_id varchar(64);
CREATE INDEX IF NOT EXISTS idx_clients_org_id ON clients (org_id);

ALTER TABLE users ADD COLUMN suspended_at timestamptz;
