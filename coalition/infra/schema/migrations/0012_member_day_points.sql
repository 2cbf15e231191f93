-- What a member earned each day at each partner from the partner's own
-- rules (base and tier points): the daily cap reads one row instead of the
-- day's earns and their lines, whose number grows with every purchase.
-- The day is the coalition's calendar day, in its time zone, as the cap
-- counts it. Derived from earn_lines, written in the same transaction as
-- the earn; `ledger check` compares the two. No foreign keys: the rows are
-- a running figure, written on the accrual's hot path.
CREATE TABLE member_day_points (
    member_id  UUID NOT NULL,
    partner_id UUID NOT NULL,
    day        DATE NOT NULL,
    points     BIGINT NOT NULL CHECK (points >= 0),
    PRIMARY KEY (member_id, partner_id, day)
);

INSERT INTO member_day_points (member_id, partner_id, day, points)
SELECT t.member_id, l.funder_id, (t.created_at AT TIME ZONE s.time_zone)::DATE, SUM(l.points)
FROM transactions AS t
JOIN earn_lines AS l ON l.transaction_id = t.id
CROSS JOIN coalition_settings AS s
WHERE t.kind = 'earn' AND l.rule IN ('base', 'tier')
GROUP BY t.member_id, l.funder_id, (t.created_at AT TIME ZONE s.time_zone)::DATE
HAVING SUM(l.points) > 0;
