-- Analytics rollups (package settlement/analytics): the ledger's own rows of
-- each cleared settlement window, summed once into small tables, so that a
-- page of figures over a year reads sums per day and one row per member,
-- not every purchase.
-- A cleared window never changes, so a day is rolled up once: in one
-- transaction that first inserts the day into analytics_days and writes
-- nothing if it is there already. Days are rolled up in order. No foreign
-- keys but the day's: the rows are figures derived from the ledger, which
-- can be dropped and rebuilt from it.
--
-- The scope of a member's activity and of a cohort is a partner (its own
-- purchases) or the whole network, written as the nil UUID
-- 00000000-0000-0000-0000-000000000000 (no partner has it; the operator's
-- id is ...0001).

-- The days rolled up, one row each, written in the day's transaction.
CREATE TABLE analytics_days (
    business_date DATE PRIMARY KEY REFERENCES settlement_windows (business_date),
    rolled_up_at  TIMESTAMPTZ NOT NULL
);

-- Members as the figures count them: enrolled in the window that was open
-- when they joined (enrolled_on, its business day, and that day's month),
-- at their home partner, through the partner's API or by QR
-- self-enrolment (self_enrolments, with its point of sale).
CREATE TABLE analytics_members (
    member_id        UUID PRIMARY KEY,
    home_partner_id  UUID NOT NULL,
    enrolled_on      DATE NOT NULL,
    enrolment_month  DATE NOT NULL,
    channel          TEXT NOT NULL CHECK (channel IN ('api', 'qr')),
    location         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX analytics_members_enrolled ON analytics_members (enrolled_on);

-- A window's enrolments are the members whose enrolled_at falls in it,
-- read by range rather than by a scan of every member.
CREATE INDEX members_enrolled_at ON members (enrolled_at);

-- Members acquired per business day, partner, channel and point of sale.
CREATE TABLE analytics_enrolments (
    business_date DATE NOT NULL,
    partner_id    UUID NOT NULL,
    channel       TEXT NOT NULL,
    location      TEXT NOT NULL,
    members       BIGINT NOT NULL CHECK (members > 0),
    PRIMARY KEY (business_date, partner_id, channel, location)
);

-- Per partner and business day: its purchases (earns) and their amount,
-- the distinct members who bought that day, refunds of purchases, the
-- points it issued (earns and the bonuses it funded) and had clawed back,
-- the points spent at it (of any issuer, net of refunds of burns), its
-- points spent at another partner, and its points that expired. The
-- operator has rows as an issuer. Everything but buyers adds up over days.
CREATE TABLE analytics_partner_days (
    business_date           DATE NOT NULL,
    partner_id              UUID NOT NULL,
    purchases               BIGINT NOT NULL,
    purchase_minor          BIGINT NOT NULL,
    buyers                  BIGINT NOT NULL,
    refunds                 BIGINT NOT NULL,
    refund_minor            BIGINT NOT NULL,
    points_issued           BIGINT NOT NULL,
    points_clawed_back      BIGINT NOT NULL,
    points_burned           BIGINT NOT NULL,
    points_burned_elsewhere BIGINT NOT NULL,
    points_expired          BIGINT NOT NULL,
    PRIMARY KEY (business_date, partner_id)
);

-- Points issued by one partner and spent at another (or at itself), per
-- business day, net of refunds of burns: where each partner's points go.
CREATE TABLE analytics_point_flows (
    business_date DATE NOT NULL,
    issuer_id     UUID NOT NULL,
    redeemer_id   UUID NOT NULL,
    points        BIGINT NOT NULL,
    PRIMARY KEY (business_date, issuer_id, redeemer_id)
);

-- Which days each member bought, per scope (a partner, or the network), as
-- bitmaps over a span of two calendar years: span Y holds the days of
-- years Y-1 and Y, so that any period of up to 366 days lies within one
-- row per member (span = the year of its last day) and distinct members
-- over it are counted from that row alone, without grouping. Each day is
-- written in the two spans that hold it. Day n of the span (0 = 1 January
-- of Y-1, up to 730) is bit n % 61 of word n / 61 of d0..d11. 61 bits a
-- word keep every word positive, so that x & (x - 1) (x without its lowest
-- bit: nonzero when x has two bits or more) never overflows. Updated by
-- OR, so writing a day twice changes nothing.
CREATE TABLE analytics_activity (
    span            INT NOT NULL,
    partner_id      UUID NOT NULL,
    member_id       UUID NOT NULL,
    home_partner_id UUID NOT NULL,
    d0 BIGINT NOT NULL, d1 BIGINT NOT NULL, d2 BIGINT NOT NULL, d3 BIGINT NOT NULL,
    d4 BIGINT NOT NULL, d5 BIGINT NOT NULL, d6 BIGINT NOT NULL, d7 BIGINT NOT NULL,
    d8 BIGINT NOT NULL, d9 BIGINT NOT NULL, d10 BIGINT NOT NULL, d11 BIGINT NOT NULL,
    PRIMARY KEY (span, partner_id, member_id)
);
-- A scope's rows in key order with every column the figures read, so that
-- a page reads them as one range of this index alone. PostgreSQL keeps a
-- table's rows in the order they were written, which spreads each scope's
-- rows (and each day's updates) over the whole table: without it, counting
-- one partner's members visits most of the table's pages. (CockroachDB
-- stores rows in primary key order already; there this index only doubles
-- them, and a CockroachDB-only migration may drop it.)
CREATE INDEX analytics_activity_scope ON analytics_activity (span, partner_id, member_id)
    INCLUDE (home_partner_id, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11);
-- A partner's members wherever they bought (cross-shopping).
CREATE INDEX analytics_activity_home ON analytics_activity (span, home_partner_id, partner_id);

-- The days on which a member bought twice or more in a scope, as
-- analytics_activity's words: a member with one such day in a period and
-- no other bought twice in it. Kept apart, since few members have such
-- days and a page reads them only for members with one day in its period.
CREATE TABLE analytics_repeat_days (
    span       INT NOT NULL,
    partner_id UUID NOT NULL,
    member_id  UUID NOT NULL,
    m0 BIGINT NOT NULL, m1 BIGINT NOT NULL, m2 BIGINT NOT NULL, m3 BIGINT NOT NULL,
    m4 BIGINT NOT NULL, m5 BIGINT NOT NULL, m6 BIGINT NOT NULL, m7 BIGINT NOT NULL,
    m8 BIGINT NOT NULL, m9 BIGINT NOT NULL, m10 BIGINT NOT NULL, m11 BIGINT NOT NULL,
    PRIMARY KEY (span, partner_id, member_id)
);

-- Cohorts: members enrolled in a month (at the partner, for a partner's
-- scope) who bought in an activity month (at the partner, or anywhere),
-- counted once each: a member's first purchase of the month in the scope
-- adds one. And each cohort's size.
CREATE TABLE analytics_cohorts (
    partner_id       UUID NOT NULL,
    enrolment_month  DATE NOT NULL,
    activity_month   DATE NOT NULL,
    members          BIGINT NOT NULL CHECK (members > 0),
    PRIMARY KEY (partner_id, activity_month, enrolment_month)
);
CREATE TABLE analytics_cohort_sizes (
    partner_id      UUID NOT NULL,
    enrolment_month DATE NOT NULL,
    members         BIGINT NOT NULL CHECK (members > 0),
    PRIMARY KEY (partner_id, enrolment_month)
);
