-- Promotion results (package settlement/analytics): each cleared day's
-- bonus lines of promotions, personal offers and coupons (earn_lines of
-- rule 'promotion', 'offer' or 'coupon', by their code, ref), rolled up
-- with the rest of the day, so that a page reads sums per day and one row
-- per member reached, never the ledger's lines.
--
-- A result is kept per line's rule and code, the partner whose till the
-- purchase was made at, and the line's funder (the issuer of its points:
-- the till's partner, another partner, or the operator).
--
-- The days rolled up before this migration have no rows here, so, as 0019
-- did, it empties every analytics table: the next roll-up (after the next
-- clearing pass) rebuilds every cleared day, oldest first.
TRUNCATE analytics_reports, analytics_activity, analytics_cohort_sizes, analytics_cohorts, analytics_repeat_days,
    analytics_point_flows, analytics_partner_days, analytics_enrolments, analytics_members, analytics_days;

-- Per business day and promotion (rule, code, till, funder): the purchases
-- that earned its points and the points given; the members who received
-- it that day (participants, counted once a day) and what they spent at the
-- till that day, all their purchases there; and the members who bought at
-- the same till that day without receiving it (the comparable others) and
-- what they spent there. Every column adds up over days.
CREATE TABLE analytics_promotion_days (
    business_date     DATE NOT NULL,
    rule              TEXT NOT NULL,
    ref               TEXT NOT NULL,
    partner_id        UUID NOT NULL,
    funder_id         UUID NOT NULL,
    purchases         BIGINT NOT NULL,
    points            BIGINT NOT NULL,
    participants      BIGINT NOT NULL,
    participant_minor BIGINT NOT NULL,
    others            BIGINT NOT NULL,
    others_minor      BIGINT NOT NULL,
    PRIMARY KEY (business_date, rule, ref, partner_id, funder_id)
);

-- The days each member received a promotion, as analytics_activity's
-- bitmaps over a span of two calendar years (first_day and last_day as n,
-- the day of the span), so that the members a promotion reached over any
-- period of up to a year are counted exactly from one row each. Updated by
-- OR: writing a day twice changes nothing.
CREATE TABLE analytics_promotion_members (
    span       INT NOT NULL,
    rule       TEXT NOT NULL,
    ref        TEXT NOT NULL,
    partner_id UUID NOT NULL,
    funder_id  UUID NOT NULL,
    member_id  UUID NOT NULL,
    first_day  SMALLINT NOT NULL,
    last_day   SMALLINT NOT NULL,
    d0 BIGINT NOT NULL, d1 BIGINT NOT NULL, d2 BIGINT NOT NULL, d3 BIGINT NOT NULL,
    d4 BIGINT NOT NULL, d5 BIGINT NOT NULL, d6 BIGINT NOT NULL, d7 BIGINT NOT NULL,
    d8 BIGINT NOT NULL, d9 BIGINT NOT NULL, d10 BIGINT NOT NULL, d11 BIGINT NOT NULL,
    PRIMARY KEY (span, partner_id, rule, ref, funder_id, member_id)
);
-- A funder's promotions at other partners' tills.
CREATE INDEX analytics_promotion_members_funder ON analytics_promotion_members (span, funder_id, partner_id);
