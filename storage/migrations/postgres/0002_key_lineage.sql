-- 0002 key lineage: the credential that created a key (its parent key, or
-- the OAuth grant and client of the access token), so revoking the parent
-- revokes the key, and the successor of a rotated key, so a rotated-out key
-- cannot be changed or rotated again.

ALTER TABLE api_keys ADD COLUMN parent_key_id varchar(64);
ALTER TABLE api_keys ADD COLUMN parent_grant_id varchar(64);
ALTER TABLE api_keys ADD COLUMN parent_client_id varchar(64);
ALTER TABLE api_keys ADD COLUMN replaced_by varchar(64);
CREATE INDEX idx_api_keys_parent_key_id ON api_keys (parent_key_id);
CREATE INDEX idx_api_keys_parent_grant_id ON api_keys (parent_grant_id);
CREATE INDEX idx_api_keys_parent_client_id ON api_keys (parent_client_id);
