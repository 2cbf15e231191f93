-- Analytics pages, computed once: the activity bitmaps carry each
-- member's first and last day of purchase in the span and how many days
-- (so a page passes over the members who bought only before or after its
-- period, and counts without the bits those whose days all lie in it), and
-- the reports a page computed are kept.
--
-- The analytics tables are derived from the ledger's own rows, so rather
-- than guess the new columns of the rows rolled up before, this migration
-- empties them all: the next roll-up (after the next clearing pass)
-- rebuilds every cleared day, oldest first, as it does on a new database.
TRUNCATE analytics_cohort_sizes, analytics_cohorts, analytics_repeat_days,
    analytics_point_flows, analytics_partner_days, analytics_enrolments,
    analytics_members, analytics_days;
DROP TABLE analytics_activity;

-- Which days each member bought, per scope: the bitmaps of 0017, with
-- first_day and last_day (as n, the day of the span) and days (how many
-- bits are set).
CREATE TABLE analytics_activity (
    span            INT NOT NULL,
    partner_id      UUID NOT NULL,
    member_id       UUID NOT NULL,
    home_partner_id UUID NOT NULL,
    first_day       SMALLINT NOT NULL,
    last_day        SMALLINT NOT NULL,
    days            SMALLINT NOT NULL,
    d0 BIGINT NOT NULL, d1 BIGINT NOT NULL, d2 BIGINT NOT NULL, d3 BIGINT NOT NULL,
    d4 BIGINT NOT NULL, d5 BIGINT NOT NULL, d6 BIGINT NOT NULL, d7 BIGINT NOT NULL,
    d8 BIGINT NOT NULL, d9 BIGINT NOT NULL, d10 BIGINT NOT NULL, d11 BIGINT NOT NULL,
    PRIMARY KEY (span, partner_id, member_id)
);
-- A scope's rows in key order with every column the figures read, so that
-- a page reads them as ranges of this index alone: a partner's (or the
-- network's) rows, or its members' rows at each other partner (by home).
-- PostgreSQL keeps a table's rows in the order they were written, which
-- spreads each scope's rows (and each day's updates) over the whole table:
-- without it, counting one partner's members visits most of the table's
-- pages. A row's key never changes, so its new version lands beside its
-- old one, which vacuum then frees. (CockroachDB stores rows in primary
-- key order already; there this index mostly doubles them, and a
-- CockroachDB-only migration may drop it.)
CREATE INDEX analytics_activity_scope ON analytics_activity (span, partner_id, home_partner_id, member_id)
    INCLUDE (first_day, last_day, days, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11);

-- Reports computed: a scope's figures over a period as of the last day
-- rolled up, stored as the page returns them (JSON), so that the next
-- request for the same page reads one row. Nothing rolled up later can
-- change them (rolled_up_to is in the key). The daily job computes the
-- standard periods ending on the day it rolled up last and deletes those
-- of earlier days.
CREATE TABLE analytics_reports (
    partner_id   UUID NOT NULL,
    period_from  DATE NOT NULL,
    period_to    DATE NOT NULL,
    rolled_up_to DATE NOT NULL,
    report       BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (partner_id, period_from, period_to, rolled_up_to)
);
CREATE INDEX analytics_reports_rolled_up_to ON analytics_reports (rolled_up_to);
