-- A member's open points as a running figure: the remaining points of all
-- the member's lots (spendable, pending, locked, and expired ones the
-- expiry job has not yet taken). A balance subtracts from it what is not
-- spendable now, reading only those lots (the pending ones through
-- lots_member_pending, the locked, expired and soon-expiring ones through
-- the member's other lot indexes), where it summed every open lot: a
-- regular customer has hundreds (docs/BENCHMARKS.md, "Planned once, fewer
-- foreign keys, the partner's standing").
--
-- Written in the transaction of every posting that makes a lot or changes
-- what remains of one (package ledger, writes.queue), after the member's
-- lock; `ledger check` compares it with the lots. No foreign key: a
-- running figure on the posting path. No CHECK (points >= 0) either: the
-- upsert adds a delta, and PostgreSQL checks the row proposed for insert,
-- the delta itself, before it finds the conflict.
CREATE TABLE member_open_points (
    member_id UUID PRIMARY KEY,
    points    BIGINT NOT NULL
);

INSERT INTO member_open_points (member_id, points)
SELECT member_id, SUM(remaining) FROM lots WHERE remaining > 0 GROUP BY member_id;

-- The lots that had a period before they could be spent (a partner's
-- return window): the only ones that can be pending.
CREATE INDEX lots_member_pending ON lots (member_id, spendable_from) WHERE remaining > 0 AND spendable_from > earned_at;
