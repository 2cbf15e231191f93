-- The ledger's first schema. SQL that both CockroachDB and PostgreSQL accept:
-- UUID keys made by the application, no sequences, no triggers, no advisory
-- locks. Amounts are BIGINT points or minor units of money; never floats.

-- One row: the coalition's own terms. Read by every posting, written only by
-- an operator, so it is never a hot row.
CREATE TABLE coalition_settings (
    id                INT PRIMARY KEY CHECK (id = 1),
    name              TEXT NOT NULL,
    currency          TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    time_zone         TEXT NOT NULL,
    point_value_minor BIGINT NOT NULL CHECK (point_value_minor > 0),
    created_at        TIMESTAMPTZ NOT NULL
);

-- Accounts of the double-entry ledger. Every entry moves points on one.
--   member            points a member holds (= the sum of the member's lots)
--   member_debt       minus the points a member owes after refunds of spent points
--   partner_issued    minus the points a partner has issued
--   partner_redeemed  the points spent at a partner
--   partner_breakage  the partner's issued points that expired unspent
CREATE TABLE accounts (
    id       UUID PRIMARY KEY,
    kind     TEXT NOT NULL CHECK (kind IN ('member', 'member_debt', 'partner_issued', 'partner_redeemed', 'partner_breakage')),
    owner_id UUID NOT NULL,
    UNIQUE (owner_id, kind)
);

CREATE TABLE partners (
    id                    UUID PRIMARY KEY,
    code                  TEXT NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9-]{1,31}$'),
    name                  TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind                  TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    -- Share of the purchase value given back as points' worth, in basis points.
    earn_rate_bp          BIGINT NOT NULL CHECK (earn_rate_bp BETWEEN 0 AND 10000),
    -- Points earned here stay pending this long (the return window).
    return_window_seconds BIGINT NOT NULL CHECK (return_window_seconds >= 0),
    -- Points earned here expire this many days after they are earned.
    points_ttl_days       INT NOT NULL CHECK (points_ttl_days > 0),
    issued_account_id     UUID NOT NULL REFERENCES accounts (id),
    redeemed_account_id   UUID NOT NULL REFERENCES accounts (id),
    breakage_account_id   UUID NOT NULL REFERENCES accounts (id),
    created_at            TIMESTAMPTZ NOT NULL
);

CREATE TABLE members (
    id                UUID PRIMARY KEY,
    card_number       TEXT NOT NULL UNIQUE CHECK (card_number ~ '^[0-9]{16}$'),
    qr_token          TEXT NOT NULL UNIQUE,
    referral_code     TEXT NOT NULL UNIQUE,
    -- Keyed hash of the E.164 number; the number itself is never stored.
    phone_hash        BYTEA UNIQUE,
    phone_last2       TEXT NOT NULL DEFAULT '',
    referred_by       UUID REFERENCES members (id),
    home_partner_id   UUID NOT NULL REFERENCES partners (id),
    points_account_id UUID NOT NULL REFERENCES accounts (id),
    debt_account_id   UUID NOT NULL REFERENCES accounts (id),
    enrolled_at       TIMESTAMPTZ NOT NULL
);

-- Settlement windows: one business day each. Exactly one is open; every
-- posting reads it in its own transaction, and clearing closes it and opens
-- the next in one transaction.
CREATE TABLE settlement_windows (
    business_date DATE PRIMARY KEY,
    status        TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    opened_at     TIMESTAMPTZ NOT NULL,
    closed_at     TIMESTAMPTZ
);
CREATE UNIQUE INDEX settlement_windows_one_open ON settlement_windows (status) WHERE status = 'open';

-- Points reserved by Authorize. A hold is active until captured, voided, or
-- its expires_at passes (then it no longer counts, and a sweeper marks it).
CREATE TABLE holds (
    id              UUID PRIMARY KEY,
    member_id       UUID NOT NULL REFERENCES members (id),
    partner_id      UUID NOT NULL REFERENCES partners (id),
    points          BIGINT NOT NULL CHECK (points > 0),
    captured_points BIGINT NOT NULL DEFAULT 0 CHECK (captured_points >= 0 AND captured_points <= points),
    status          TEXT NOT NULL CHECK (status IN ('active', 'captured', 'voided', 'expired')),
    order_id        TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    released_at     TIMESTAMPTZ
);
CREATE INDEX holds_member_active ON holds (member_id) WHERE status = 'active';
CREATE INDEX holds_active_expiry ON holds (expires_at) WHERE status = 'active';

-- A transaction is one balanced posting: its entries sum to zero. Rows are
-- only ever inserted; a correction is a new transaction naming the original.
CREATE TABLE transactions (
    id            UUID PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('earn', 'burn', 'capture', 'earn_refund', 'burn_refund', 'expire')),
    partner_id    UUID NOT NULL REFERENCES partners (id),
    member_id     UUID NOT NULL REFERENCES members (id),
    business_date DATE NOT NULL REFERENCES settlement_windows (business_date),
    -- Change of the member's points, as the member sees it.
    points        BIGINT NOT NULL,
    -- The purchase amount behind an earn or an earn refund.
    amount_minor  BIGINT CHECK (amount_minor >= 0),
    currency      TEXT,
    order_id      TEXT,
    original_id   UUID REFERENCES transactions (id),
    hold_id       UUID REFERENCES holds (id),
    rule_version  TEXT,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX transactions_member_history ON transactions (member_id, created_at DESC, id DESC);
CREATE INDEX transactions_window ON transactions (business_date, partner_id);
CREATE INDEX transactions_original ON transactions (original_id) WHERE original_id IS NOT NULL;
-- One earn per order of a partner: the same purchase cannot earn twice.
CREATE UNIQUE INDEX transactions_one_earn_per_order ON transactions (partner_id, order_id) WHERE kind = 'earn';

CREATE TABLE entries (
    transaction_id UUID NOT NULL REFERENCES transactions (id),
    seq            INT NOT NULL,
    account_id     UUID NOT NULL REFERENCES accounts (id),
    amount         BIGINT NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (transaction_id, seq)
);
CREATE INDEX entries_account ON entries (account_id);

-- A lot is the points of one earn: who issued them, how many are left, and
-- when they become spendable and expire.
CREATE TABLE lots (
    id             UUID PRIMARY KEY,
    member_id      UUID NOT NULL REFERENCES members (id),
    issuer_id      UUID NOT NULL REFERENCES partners (id),
    transaction_id UUID NOT NULL UNIQUE REFERENCES transactions (id),
    points         BIGINT NOT NULL CHECK (points > 0),
    remaining      BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= points),
    earned_at      TIMESTAMPTZ NOT NULL,
    spendable_from TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX lots_member_open ON lots (member_id, expires_at) WHERE remaining > 0;

-- Points a member owes after a refund clawed back points already spent; paid
-- off by the member's next points, which then count as spent at the creditor.
CREATE TABLE member_debts (
    id             UUID PRIMARY KEY,
    member_id      UUID NOT NULL REFERENCES members (id),
    creditor_id    UUID NOT NULL REFERENCES partners (id),
    transaction_id UUID NOT NULL REFERENCES transactions (id),
    points         BIGINT NOT NULL CHECK (points > 0),
    remaining      BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= points),
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX member_debts_open ON member_debts (member_id, created_at) WHERE remaining > 0;

-- Every change of a lot's remaining points, so that for each point spent we
-- know which partner issued it and where it was spent.
--   burn         spent at redeemer_id (Redeem or Capture)
--   burn_refund  given back to the lot by redeemer_id (points < 0)
--   earn_refund  clawed back by the issuer (redeemer_id = issuer_id)
--   debt         paid a member's debt to redeemer_id
--   expire       expired unspent (redeemer_id is NULL)
CREATE TABLE lot_consumptions (
    id             UUID PRIMARY KEY,
    transaction_id UUID NOT NULL REFERENCES transactions (id),
    lot_id         UUID NOT NULL REFERENCES lots (id),
    member_id      UUID NOT NULL REFERENCES members (id),
    issuer_id      UUID NOT NULL REFERENCES partners (id),
    redeemer_id    UUID REFERENCES partners (id),
    debt_id        UUID REFERENCES member_debts (id),
    kind           TEXT NOT NULL CHECK (kind IN ('burn', 'burn_refund', 'earn_refund', 'debt', 'expire')),
    points         BIGINT NOT NULL CHECK (points <> 0),
    business_date  DATE NOT NULL REFERENCES settlement_windows (business_date),
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX lot_consumptions_lot ON lot_consumptions (lot_id);
CREATE INDEX lot_consumptions_transaction ON lot_consumptions (transaction_id);
CREATE INDEX lot_consumptions_window ON lot_consumptions (business_date);

-- Idempotency: the first result of each (partner, key), replayed verbatim.
CREATE TABLE idempotency_keys (
    partner_id   UUID NOT NULL REFERENCES partners (id),
    key          TEXT NOT NULL,
    operation    TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    response     BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (partner_id, key)
);
