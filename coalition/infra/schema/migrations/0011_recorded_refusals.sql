-- A business refusal (not enough points, no such hold, a refund above the
-- original) is recorded under its idempotency key like a success, so that a
-- replay of the refused request is refused the same way, even after the
-- state changed (the member earned more): a till that timed out on a
-- refusal and retries must not spend points its customer was told were not
-- spent. response then holds the refusal (code, field, message).
ALTER TABLE idempotency_keys ADD COLUMN outcome TEXT NOT NULL DEFAULT 'posted' CHECK (outcome IN ('posted', 'refused'));
