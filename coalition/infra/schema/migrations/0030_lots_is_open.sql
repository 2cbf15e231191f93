-- A lot's partial indexes (0001, 0002, 0028) said WHERE remaining > 0, so
-- every change of remaining, a redemption that takes part of a lot as much
-- as one that empties it, changed a column the indexes name: PostgreSQL
-- could not make the update HOT and wrote a new entry in each of the
-- lot's five indexes. is_open names only whether the lot has points left,
-- which changes once, when a lot is emptied (or refilled by a refund); an
-- update that leaves it open touches no index. Space left in each page
-- (fillfactor) lets the new version stay on its page, which HOT needs.
-- The reads say is_open, so that the planner can use these indexes.
ALTER TABLE lots ADD COLUMN is_open BOOLEAN GENERATED ALWAYS AS (remaining > 0) STORED;
ALTER TABLE lots SET (fillfactor = 85);

DROP INDEX IF EXISTS lots_member_open;
CREATE INDEX lots_member_open ON lots (member_id, expires_at) WHERE is_open;
DROP INDEX IF EXISTS lots_expiring;
CREATE INDEX lots_expiring ON lots (expires_at) WHERE is_open;
DROP INDEX IF EXISTS lots_member_pending;
CREATE INDEX lots_member_pending ON lots (member_id, spendable_from) WHERE is_open AND spendable_from > earned_at;
