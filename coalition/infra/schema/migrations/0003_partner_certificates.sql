-- Client certificates issued to partners through Vault: their serials (to
-- revoke them), and when they expire (for the operator's overview). The
-- private keys are never stored: a partner receives its key once.
CREATE TABLE partner_certificates (
    serial     TEXT PRIMARY KEY,
    partner_id UUID NOT NULL REFERENCES partners (id),
    issued_at  TIMESTAMPTZ NOT NULL,
    not_after  TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX partner_certificates_partner ON partner_certificates (partner_id, not_after DESC);
