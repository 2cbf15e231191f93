-- transactions_member_kind (0005) served the rescans of a member's earns
-- for the tier spend and the daily cap; the running figures
-- (member_day_spend, member_day_points) replaced them, and what is left
-- of those reads (the earns of the first, partial day of the tier period)
-- is a range of transactions_member_history, which leads with the member
-- and then the time as well. One index entry fewer for every posting.
DROP INDEX IF EXISTS transactions_member_kind;
