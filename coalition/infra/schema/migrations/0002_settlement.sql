-- Settlement terms, liability limits and clearing reports.

-- The operator's fees, in basis points, for the whole coalition...
ALTER TABLE coalition_settings ADD COLUMN interchange_fee_bp BIGINT NOT NULL DEFAULT 0 CHECK (interchange_fee_bp BETWEEN 0 AND 10000);
ALTER TABLE coalition_settings ADD COLUMN issue_fee_bp BIGINT NOT NULL DEFAULT 0 CHECK (issue_fee_bp BETWEEN 0 AND 10000);
ALTER TABLE coalition_settings ADD COLUMN breakage_share_bp BIGINT NOT NULL DEFAULT 0 CHECK (breakage_share_bp BETWEEN 0 AND 10000);

-- ...and a partner's own terms where they differ (NULL: the coalition's).
ALTER TABLE partners ADD COLUMN interchange_fee_bp BIGINT CHECK (interchange_fee_bp BETWEEN 0 AND 10000);
ALTER TABLE partners ADD COLUMN issue_fee_bp BIGINT CHECK (issue_fee_bp BETWEEN 0 AND 10000);
ALTER TABLE partners ADD COLUMN breakage_share_bp BIGINT CHECK (breakage_share_bp BETWEEN 0 AND 10000);
-- Net debit cap: the most points the partner may have outstanding (issued,
-- not yet burned or expired). NULL: no cap.
ALTER TABLE partners ADD COLUMN liability_limit_points BIGINT CHECK (liability_limit_points >= 0);

-- One row per cleared window. Its primary key is what makes a window clear
-- exactly once, however many replicas try: the first to insert wins, the
-- others read its report. The report is stored as the exact bytes every
-- export is made from, with their SHA-256, and never changes.
CREATE TABLE clearing_reports (
    business_date DATE PRIMARY KEY REFERENCES settlement_windows (business_date),
    report        BYTEA NOT NULL,
    sha256        BYTEA NOT NULL,
    cleared_at    TIMESTAMPTZ NOT NULL
);

-- Each partner's outstanding liability (points issued and not yet burned or
-- expired) as of the end of a cleared window, for the liability limit:
-- an accrual checks against the last cleared figure plus what the partner
-- issued since, so it never reads a row every accrual writes.
CREATE TABLE partner_liabilities (
    business_date DATE NOT NULL REFERENCES settlement_windows (business_date),
    partner_id    UUID NOT NULL REFERENCES partners (id),
    outstanding   BIGINT NOT NULL,
    PRIMARY KEY (partner_id, business_date)
);

-- For the expiry job: lots past their date with points left.
CREATE INDEX lots_expiring ON lots (expires_at) WHERE remaining > 0;

-- On CockroachDB, the commit timestamp of the transaction that closed the
-- window: clearing reads the window's rows AS OF SYSTEM TIME this value, so
-- it sees every posting of the window and never blocks live traffic.
ALTER TABLE settlement_windows ADD COLUMN closed_hlc TEXT;

-- For a partner's outstanding liability since the last cleared window.
CREATE INDEX lot_consumptions_issuer_window ON lot_consumptions (issuer_id, business_date);
CREATE INDEX transactions_partner_window ON transactions (partner_id, business_date) WHERE kind = 'earn';
