-- The posting tables' references to rows that are never deleted (members,
-- partners, accounts, settlement windows) and to rows the same transaction
-- has just inserted (a posting's transaction, an earn's lot) are no longer
-- foreign keys. PostgreSQL checks a foreign key by running a query for
-- every row inserted, which took a quarter of the database's CPU under
-- partner traffic (about twenty checks per accrual; docs/BENCHMARKS.md,
-- "Planned once, fewer foreign keys, the partner's standing"); and every
-- writer of these rows takes the ids from rows it read, and locked, in the
-- same transaction (docs/DATABASE.md, "References"). `coalitionctl ledger
-- check` verifies every one of these references ("every posting row names
-- rows that exist").
--
-- Kept: the references that most postings leave empty (a refund's
-- original, a capture's hold, a consumption's debt, a lot's unlocking
-- partner), which cost nothing when empty, and those of the tables
-- outside the per-request path (holds, debts, coupons' uses).
ALTER TABLE transactions DROP CONSTRAINT IF EXISTS transactions_partner_id_fkey;
ALTER TABLE transactions DROP CONSTRAINT IF EXISTS transactions_member_id_fkey;
ALTER TABLE transactions DROP CONSTRAINT IF EXISTS transactions_business_date_fkey;
ALTER TABLE entries DROP CONSTRAINT IF EXISTS entries_transaction_id_fkey;
ALTER TABLE entries DROP CONSTRAINT IF EXISTS entries_account_id_fkey;
ALTER TABLE earn_lines DROP CONSTRAINT IF EXISTS earn_lines_transaction_id_fkey;
ALTER TABLE earn_lines DROP CONSTRAINT IF EXISTS earn_lines_funder_id_fkey;
ALTER TABLE earn_lines DROP CONSTRAINT IF EXISTS earn_lines_lot_id_fkey;
ALTER TABLE lots DROP CONSTRAINT IF EXISTS lots_member_id_fkey;
ALTER TABLE lots DROP CONSTRAINT IF EXISTS lots_issuer_id_fkey;
ALTER TABLE lots DROP CONSTRAINT IF EXISTS lots_transaction_id_fkey;
ALTER TABLE lot_consumptions DROP CONSTRAINT IF EXISTS lot_consumptions_transaction_id_fkey;
ALTER TABLE lot_consumptions DROP CONSTRAINT IF EXISTS lot_consumptions_lot_id_fkey;
ALTER TABLE lot_consumptions DROP CONSTRAINT IF EXISTS lot_consumptions_member_id_fkey;
ALTER TABLE lot_consumptions DROP CONSTRAINT IF EXISTS lot_consumptions_issuer_id_fkey;
ALTER TABLE lot_consumptions DROP CONSTRAINT IF EXISTS lot_consumptions_redeemer_id_fkey;
ALTER TABLE lot_consumptions DROP CONSTRAINT IF EXISTS lot_consumptions_business_date_fkey;
ALTER TABLE idempotency_keys DROP CONSTRAINT IF EXISTS idempotency_keys_partner_id_fkey;
