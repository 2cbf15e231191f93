-- A spend takes a member's spendable lots soonest to expire first, and the
-- batch's purse read asks lots_member_open for the first of them with
-- spendable_from <= now. Lots still in their return window (a fuel
-- chain's: pending 14 days, expiring after 45, before every other
-- partner's) sort ahead of the spendable ones, and with spendable_from
-- only in the heap each of them cost a heap fetch before the filter threw
-- it away: a member with two hundred pending lots made a purse read cost a
-- millisecond (docs/BENCHMARKS.md, "Pending lots skipped in the index,
-- and regulars seeded as regulars").
-- With spendable_from in the index the scan checks it on the index entry
-- and fetches only the lots it returns. spendable_from never changes, so
-- a take from a lot stays a HOT update.
DROP INDEX IF EXISTS lots_member_open;
CREATE INDEX lots_member_open ON lots (member_id, expires_at, spendable_from) WHERE is_open;
