-- Partner staff: people of a partner who sign in to the partner portal with
-- a credential the operator (for the partner's first admin) or the
-- partner's own admin issued. A partner staff credential is a staff API key
-- (hashed as every key is, by Vault) that names its partner and a
-- partner-scoped role; a session signed in with one carries the partner.
-- The checks are dropped by both names they get (PostgreSQL's and
-- CockroachDB's) and added again under one name.
ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS api_keys_role_check;
ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS check_role;
ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS api_keys_check;
ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS check_partner_id_role;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check
    CHECK (role IN ('partner', 'finance', 'operator', 'partner-admin', 'partner-finance', 'partner-marketing'));
-- Only the coalition's own staff (finance, operator) belong to no partner.
ALTER TABLE api_keys ADD CONSTRAINT api_keys_partner_check
    CHECK ((role IN ('finance', 'operator')) = (partner_id IS NULL));
-- The portal lists a partner's keys and staff.
CREATE INDEX api_keys_partner ON api_keys (partner_id, created_at);

ALTER TABLE web_sessions ADD COLUMN partner_id UUID REFERENCES partners (id);
ALTER TABLE web_sessions DROP CONSTRAINT IF EXISTS web_sessions_role_check;
ALTER TABLE web_sessions DROP CONSTRAINT IF EXISTS check_role;
ALTER TABLE web_sessions ADD CONSTRAINT web_sessions_role_check
    CHECK (role IN ('member', 'finance', 'operator', 'partner-admin', 'partner-finance', 'partner-marketing'));
ALTER TABLE web_sessions ADD CONSTRAINT web_sessions_partner_check
    CHECK ((role IN ('partner-admin', 'partner-finance', 'partner-marketing')) = (partner_id IS NOT NULL));
