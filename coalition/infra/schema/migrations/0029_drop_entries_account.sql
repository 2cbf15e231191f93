-- entries_account (0001) served no read: the clearing, analytics and the
-- ledger's check reach entries by their transaction (entries_pkey) or read
-- them all. Every posting wrote an entry to it for each of its two or more
-- lines, and every earn one under its partner's issued account, the same
-- few keys for the whole network.
DROP INDEX IF EXISTS entries_account;
