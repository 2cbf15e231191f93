-- API keys for REST clients. A key is shown once, when issued; what is kept
-- is its keyed hash (Vault transit HMAC), never the key.
CREATE TABLE api_keys (
    id         UUID PRIMARY KEY,
    -- A partner's key acts as the partner; a staff key has a role instead.
    partner_id UUID REFERENCES partners (id),
    role       TEXT NOT NULL CHECK (role IN ('partner', 'finance', 'operator')),
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    hash       BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    -- Set when the key is rotated (the old key lives on for the overlap).
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    CHECK ((role = 'partner') = (partner_id IS NOT NULL))
);
