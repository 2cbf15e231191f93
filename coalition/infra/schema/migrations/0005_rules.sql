-- Loyalty rules: versioned rule sets, the breakdown of every accrual, tiers,
-- promotion budgets, referral bonuses, bonus transactions and locked lots.

-- A rule set takes effect at effective_from and is never changed; a change of
-- rules is a new version. body is the rule set as JSON, validated by the
-- application before it is stored.
CREATE TABLE rule_sets (
    version        BIGINT PRIMARY KEY CHECK (version > 0),
    effective_from TIMESTAMPTZ NOT NULL,
    body           TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX rule_sets_effective ON rule_sets (effective_from);

-- The coalition operator as an issuer of points (promotions and referral
-- bonuses it funds): a partner row of its own kind, so that lots, accounts
-- and clearing treat its points like any issuer's. Fixed ids, the same in
-- every coalition.
INSERT INTO accounts (id, kind, owner_id) VALUES
    ('00000000-0000-0000-0000-00000000a001', 'partner_issued',   '00000000-0000-0000-0000-000000000001'),
    ('00000000-0000-0000-0000-00000000a002', 'partner_redeemed', '00000000-0000-0000-0000-000000000001'),
    ('00000000-0000-0000-0000-00000000a003', 'partner_breakage', '00000000-0000-0000-0000-000000000001');
INSERT INTO partners (id, code, name, kind, status, earn_rate_bp, return_window_seconds, points_ttl_days,
                      issued_account_id, redeemed_account_id, breakage_account_id, created_at)
VALUES ('00000000-0000-0000-0000-000000000001', 'operator', 'Coalition operator', 'operator', 'active', 0, 0, 365,
        '00000000-0000-0000-0000-00000000a001', '00000000-0000-0000-0000-00000000a002',
        '00000000-0000-0000-0000-00000000a003', now());

-- bonus: points given outside a purchase's own earn (a welcome bonus, the
-- referrer's bonus, a promotion funded by someone other than the partner
-- where the purchase was made). The constraint has a different default name
-- on each database; drop whichever exists.
ALTER TABLE transactions DROP CONSTRAINT IF EXISTS transactions_kind_check;
ALTER TABLE transactions DROP CONSTRAINT IF EXISTS check_kind;
ALTER TABLE transactions ADD CONSTRAINT transactions_kind_check
    CHECK (kind IN ('earn', 'burn', 'capture', 'earn_refund', 'burn_refund', 'expire', 'bonus'));

-- The breakdown of an earn (or a bonus), line by line, as the rule version
-- named in transactions.rule_version computed it. A line funded by someone
-- other than the transaction's partner has its own bonus transaction.
CREATE TABLE earn_lines (
    transaction_id UUID NOT NULL REFERENCES transactions (id),
    seq            INT NOT NULL,
    rule           TEXT NOT NULL CHECK (rule IN ('base', 'tier', 'promotion', 'referral', 'welcome')),
    ref            TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL,
    points         BIGINT NOT NULL CHECK (points >= 0),
    funder_id      UUID NOT NULL REFERENCES partners (id),
    lot_id         UUID REFERENCES lots (id),
    PRIMARY KEY (transaction_id, seq)
);

-- A joint promotion's bonus stays locked until the member buys at this
-- partner; locked points are not spendable, and expire like any others.
ALTER TABLE lots ADD COLUMN unlock_partner_id UUID REFERENCES partners (id);
CREATE INDEX lots_member_locked ON lots (member_id, unlock_partner_id) WHERE unlock_partner_id IS NOT NULL;

-- Members' tiers. Raised by the accrual that crosses a threshold, lowered by
-- the daily review. One row per member: written only by that member's
-- postings and the review, never a hot row.
CREATE TABLE member_tiers (
    member_id  UUID PRIMARY KEY REFERENCES members (id),
    tier       TEXT NOT NULL,
    since      TIMESTAMPTZ NOT NULL,
    reviewed_at TIMESTAMPTZ NOT NULL
);

-- A promotion's budget, spread over shards so that concurrent accruals do
-- not all update one row: each shard may grant its share of the budget, and
-- an accrual draws on its member's shard first.
CREATE TABLE promotion_budgets (
    promotion TEXT NOT NULL,
    shard     INT NOT NULL CHECK (shard >= 0),
    granted   BIGINT NOT NULL CHECK (granted >= 0),
    PRIMARY KEY (promotion, shard)
);

-- One referral bonus per referred member, ever.
CREATE TABLE referral_bonuses (
    member_id      UUID PRIMARY KEY REFERENCES members (id),
    referrer_id    UUID NOT NULL REFERENCES members (id),
    transaction_id UUID NOT NULL REFERENCES transactions (id),
    created_at     TIMESTAMPTZ NOT NULL
);

-- For the tier spend and the daily cap: a member's earns by time.
CREATE INDEX transactions_member_kind ON transactions (member_id, kind, created_at);

-- For a partner's outstanding liability: the bonuses it funded since the
-- last cleared window.
CREATE INDEX transactions_partner_bonus ON transactions (partner_id, business_date) WHERE kind = 'bonus';
