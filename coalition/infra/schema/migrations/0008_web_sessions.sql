-- Sign-in sessions of the web pages and REST clients: finance and operator
-- staff signed in with a credential the operator issued (a staff API key),
-- and members who opened a one-time link from a partner. They live in the
-- database, not in a replica's memory, so every replica behind a load
-- balancer sees the same sessions and a sign-out ends a session everywhere.
-- Only the SHA-256 of each token is stored: the tokens are 256 random bits,
-- so the hash cannot be reversed by guessing, and a copy of the table opens
-- nothing.
CREATE TABLE web_sessions (
    token_hash    BYTEA PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('member', 'finance', 'operator')),
    member_id     UUID REFERENCES members (id),
    -- The staff credential signed in with: revoking it ends its sessions.
    credential_id UUID REFERENCES api_keys (id),
    name          TEXT NOT NULL,
    -- Echoed in the pages' forms and checked on every POST.
    csrf_token    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    ended_at      TIMESTAMPTZ,
    CHECK ((role = 'member') = (member_id IS NOT NULL)),
    CHECK ((role = 'member') = (credential_id IS NULL))
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- One-time links to a member's own page, issued by the partner that
-- enrolled the member and delivered through the partner's channel. Opening
-- one starts a member session and uses the link up.
CREATE TABLE member_links (
    code_hash  BYTEA PRIMARY KEY,
    member_id  UUID NOT NULL REFERENCES members (id),
    partner_id UUID NOT NULL REFERENCES partners (id),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
