-- Member segments: who belongs to a segment, as of its last computation
-- by the daily job. A segment is the coalition's (partner_id NULL: the
-- operator's, over every member) or a partner's (over that partner's own
-- customers only: members it enrolled or who bought there within the
-- look-back). Its definition is a conjunction of conditions (JSON, as
-- coalition/segments.Definition reads it); retired segments keep their row,
-- so that whatever names them (offers) still finds them, but no members.
CREATE TABLE segments (
    id          UUID PRIMARY KEY,
    partner_id  UUID REFERENCES partners (id),
    code        TEXT NOT NULL CHECK (code ~ '^[a-z][a-z0-9-]{1,31}$'),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        TEXT NOT NULL DEFAULT 'rule' CHECK (kind IN ('rule')),
    definition  JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    retired_at  TIMESTAMPTZ,
    -- The business day the membership was last computed as of (NULL: not
    -- yet), and its size then.
    as_of       DATE,
    size        BIGINT NOT NULL DEFAULT 0 CHECK (size >= 0),
    computed_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX segments_code ON segments (COALESCE(partner_id, '00000000-0000-0000-0000-000000000000'::UUID), code);

CREATE TABLE segment_members (
    segment_id UUID NOT NULL REFERENCES segments (id),
    member_id  UUID NOT NULL REFERENCES members (id),
    PRIMARY KEY (segment_id, member_id)
);
-- A member's segments (offers' eligibility at an accrual).
CREATE INDEX segment_members_member ON segment_members (member_id, segment_id);

-- Each member's RFM scores as of a business day, per scope: the nil UUID
-- for the whole coalition, a partner's id for its purchases only. Only
-- members with a purchase in the scope within the look-back have a row.
-- Rewritten whole by each daily computation (as_of says which), read by
-- segments' conditions and the RFM grid.
CREATE TABLE member_rfm (
    scope_id       UUID NOT NULL,
    member_id      UUID NOT NULL REFERENCES members (id),
    as_of          DATE NOT NULL,
    last_purchase  DATE NOT NULL,
    recency_days   INT NOT NULL CHECK (recency_days >= 0),
    frequency      BIGINT NOT NULL CHECK (frequency > 0),
    monetary_minor BIGINT NOT NULL CHECK (monetary_minor >= 0),
    r              INT NOT NULL CHECK (r BETWEEN 1 AND 5),
    f              INT NOT NULL CHECK (f BETWEEN 1 AND 5),
    m              INT NOT NULL CHECK (m BETWEEN 1 AND 5),
    PRIMARY KEY (scope_id, member_id)
);

-- The business days segments were computed as of: the daily job computes
-- each cleared day once (two replicas racing compute the same rows).
CREATE TABLE segment_days (
    business_date DATE PRIMARY KEY,
    computed_at   TIMESTAMPTZ NOT NULL
);

-- What a member chose to tell about themselves: a birth date (month and
-- day, the year optional), for birthday segments.
CREATE TABLE member_profiles (
    member_id   UUID PRIMARY KEY REFERENCES members (id),
    birth_month INT CHECK (birth_month BETWEEN 1 AND 12),
    birth_day   INT CHECK (birth_day BETWEEN 1 AND 31),
    birth_year  INT CHECK (birth_year BETWEEN 1900 AND 2100),
    updated_at  TIMESTAMPTZ NOT NULL,
    CHECK ((birth_month IS NULL) = (birth_day IS NULL)),
    CHECK (birth_year IS NULL OR birth_month IS NOT NULL)
);
CREATE INDEX member_profiles_birth_month ON member_profiles (birth_month, member_id);

-- The category a partner's till named for a purchase (an earn), for
-- "categories bought" segments; NULL when none was given.
ALTER TABLE transactions ADD COLUMN category TEXT;
