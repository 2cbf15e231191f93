-- Personal offers and coupons (package offers). An offer gives a bonus or
-- a multiplier of the base points on matching purchases of the members it
-- targets (a segment as of its last computation, or a list of members), or
-- of whoever presents one of its coupons, within [starts_at, ends_at) and
-- up to its budget, which is drawn like a promotion's: from the shard rows
-- of promotion_budgets under the key 'offer:' || code.
CREATE TABLE offers (
    id                 UUID PRIMARY KEY,
    -- Codes are the coalition's: a line of an earn names its offer by code.
    code               TEXT NOT NULL UNIQUE,
    -- The partner that made the offer (the operator's own partner row for
    -- the operator's offers): only it and the operator may see and end it.
    owner_id           UUID NOT NULL REFERENCES partners (id),
    name               TEXT NOT NULL,
    target             TEXT NOT NULL CHECK (target IN ('segment', 'members', 'coupons')),
    segment_id         UUID REFERENCES segments (id),
    bonus_points       BIGINT NOT NULL CHECK (bonus_points >= 0),
    multiplier_bp      BIGINT NOT NULL CHECK (multiplier_bp >= 0),
    partners           TEXT[] NOT NULL,
    categories         TEXT[] NOT NULL,
    min_purchase_minor BIGINT NOT NULL CHECK (min_purchase_minor >= 0),
    starts_at          TIMESTAMPTZ NOT NULL,
    ends_at            TIMESTAMPTZ NOT NULL,
    budget_points      BIGINT NOT NULL CHECK (budget_points > 0),
    -- 'partner' (where the purchase is made), 'operator' or a partner's code.
    funded_by          TEXT NOT NULL,
    -- What CreateOffer was asked, so that a replay of the code is told
    -- apart from another offer under the same code.
    request_hash       BYTEA NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    ended_at           TIMESTAMPTZ,
    CHECK (ends_at > starts_at),
    CHECK (bonus_points > 0 OR multiplier_bp > 0),
    CHECK ((target = 'segment') = (segment_id IS NOT NULL))
);
-- The offers still running: what an accrual's eligibility reads first.
CREATE INDEX offers_running ON offers (ends_at) WHERE ended_at IS NULL;
CREATE INDEX offers_owner ON offers (owner_id, created_at);

CREATE TABLE offer_members (
    offer_id  UUID NOT NULL REFERENCES offers (id),
    member_id UUID NOT NULL REFERENCES members (id),
    PRIMARY KEY (offer_id, member_id)
);
CREATE INDEX offer_members_member ON offer_members (member_id, offer_id);

-- A batch of coupons issued at once; its request key makes the issue
-- idempotent.
CREATE TABLE coupon_issues (
    id           UUID PRIMARY KEY,
    offer_id     UUID NOT NULL REFERENCES offers (id),
    request_key  TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (offer_id, request_key)
);

-- uses never passes max_uses: the accrual that uses a coupon takes one by
-- a conditional update of this row (docs/DATABASE.md), and the CHECK is
-- the constraint behind it.
CREATE TABLE coupons (
    code       TEXT PRIMARY KEY,
    offer_id   UUID NOT NULL REFERENCES offers (id),
    issue_id   UUID NOT NULL REFERENCES coupon_issues (id),
    seq        INT NOT NULL,
    member_id  UUID REFERENCES members (id),
    max_uses   INT NOT NULL CHECK (max_uses > 0),
    uses       INT NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (issue_id, seq)
);
CREATE INDEX coupons_offer ON coupons (offer_id, created_at, seq);

-- Each use of a coupon, by the earn that used it.
CREATE TABLE coupon_uses (
    coupon_code    TEXT NOT NULL REFERENCES coupons (code),
    transaction_id UUID NOT NULL REFERENCES transactions (id),
    member_id      UUID NOT NULL REFERENCES members (id),
    partner_id     UUID NOT NULL REFERENCES partners (id),
    used_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (coupon_code, transaction_id)
);

ALTER TABLE earn_lines DROP CONSTRAINT IF EXISTS earn_lines_rule_check;
ALTER TABLE earn_lines ADD CONSTRAINT earn_lines_rule_check
    CHECK (rule IN ('base', 'tier', 'promotion', 'referral', 'welcome', 'adjustment', 'offer', 'coupon'));
