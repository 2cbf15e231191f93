-- What a member spent each day, net of refunds: the tier's qualifying
-- spend reads one row per day instead of every purchase of the period,
-- whose number grows with the member's history. The day is the UTC
-- calendar day of the transaction's created_at, so that no time zone is
-- involved: a reader adds the days after the period's first one and reads
-- that first day's transactions themselves. Derived from the earns
-- (+amount) and earn refunds (-amount) in `transactions`, written in the
-- same transaction; `ledger check` compares the two. A day may be negative
-- (a refund of an earlier day's purchase). No foreign keys: the rows are a
-- running figure, written on the accrual's hot path.
CREATE TABLE member_day_spend (
    member_id   UUID NOT NULL,
    day         DATE NOT NULL,
    spend_minor BIGINT NOT NULL,
    PRIMARY KEY (member_id, day)
);

INSERT INTO member_day_spend (member_id, day, spend_minor)
SELECT member_id, (created_at AT TIME ZONE 'UTC')::DATE,
       SUM(CASE WHEN kind = 'earn' THEN amount_minor ELSE -amount_minor END)
FROM transactions
WHERE kind IN ('earn', 'earn_refund') AND amount_minor IS NOT NULL
GROUP BY member_id, (created_at AT TIME ZONE 'UTC')::DATE;
