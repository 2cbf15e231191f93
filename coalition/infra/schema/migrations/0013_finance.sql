-- Finance operations: where the money goes after clearing. Banking details
-- confirmed by a second person, payment instructions made from the cleared
-- reports, the bank's statements matched against them, and adjustments
-- that one person proposes and another approves. Nothing here is deleted:
-- a row changes status, and the people and times of each change stay.

-- Every version of a party's banking details (party: a partner's code, or
-- 'operator' for the operator's settlement account). A version is proposed
-- by one person and confirmed by another; only then do payment files use
-- it, and the version it replaces becomes 'superseded'. The people are
-- identified by their credential (staff key, certificate), with the name
-- it carried at the time. The payment terms travel with the details, under
-- the same four eyes: how often the party's net is paid (a day, a week or
-- a month of windows) and how many days after the period's end it is due.
CREATE TABLE bank_accounts (
    id               UUID PRIMARY KEY,
    party            TEXT NOT NULL,
    legal_name       TEXT NOT NULL CHECK (length(legal_name) BETWEEN 1 AND 140),
    iban             TEXT NOT NULL DEFAULT '',
    account_number   TEXT NOT NULL DEFAULT '',
    bic              TEXT NOT NULL DEFAULT '',
    currency         TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    payment_frequency TEXT NOT NULL CHECK (payment_frequency IN ('daily', 'weekly', 'monthly')),
    payment_days     INT NOT NULL CHECK (payment_days BETWEEN 0 AND 90),
    status           TEXT NOT NULL CHECK (status IN ('proposed', 'confirmed', 'rejected', 'superseded')),
    proposed_by      TEXT NOT NULL,
    proposed_by_name TEXT NOT NULL,
    proposed_at      TIMESTAMPTZ NOT NULL,
    decided_by       TEXT,
    decided_by_name  TEXT,
    decided_at       TIMESTAMPTZ,
    CHECK (iban <> '' OR account_number <> ''),
    CHECK ((status = 'proposed') = (decided_by IS NULL)),
    CHECK (decided_by IS NULL OR decided_by <> proposed_by)
);
CREATE INDEX bank_accounts_party ON bank_accounts (party, proposed_at);
-- At most one confirmed version per party: the one payments use.
CREATE UNIQUE INDEX bank_accounts_one_confirmed ON bank_accounts (party) WHERE status = 'confirmed';

-- Payment files: the operator's payments handed to its bank. An
-- instruction goes into one file only (filed_in), so no payment is filed
-- twice however often files are made; a file's bytes are kept as made, so
-- that downloading it again gives the same file, which the bank refuses by
-- its message id if it was uploaded before.
CREATE TABLE payment_files (
    id               TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 35),
    created_at       TIMESTAMPTZ NOT NULL,
    created_by       TEXT NOT NULL,
    created_by_name  TEXT NOT NULL,
    payments         INT NOT NULL CHECK (payments > 0),
    total_minor      BIGINT NOT NULL CHECK (total_minor > 0),
    currency         TEXT NOT NULL,
    pain001          BYTEA NOT NULL,
    csv              BYTEA NOT NULL
);

-- Payment instructions between the operator's settlement account and a
-- partner, one per partner and payment period (a day, a week or a month
-- of cleared windows, by the partner's terms): 'pay' when the operator
-- pays the partner its net, 'collect' when the partner pays the operator,
-- 'none' for a period whose net is zero (kept so that every window is in
-- exactly one period of each partner; no payment file carries it).
-- Made once from the stored reports, which never change; the end-to-end id
-- names the period and the parties and travels with the money through the
-- banks, so a statement's line finds its instruction.
CREATE TABLE payment_instructions (
    end_to_end_id TEXT PRIMARY KEY CHECK (length(end_to_end_id) BETWEEN 1 AND 35),
    party         TEXT NOT NULL,
    direction     TEXT NOT NULL CHECK (direction IN ('pay', 'collect', 'none')),
    amount_minor  BIGINT NOT NULL CHECK (amount_minor >= 0 AND (amount_minor = 0) = (direction = 'none')),
    currency      TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    period_from   DATE NOT NULL,
    period_to     DATE NOT NULL CHECK (period_to >= period_from),
    due_date      DATE NOT NULL,
    -- Net of the period's reports; adjustment_minor is what approved money
    -- adjustments added (signed, as the net: + owed to the partner).
    reports_minor    BIGINT NOT NULL,
    adjustment_minor BIGINT NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    -- The payment file that carries a 'pay' instruction to the bank.
    filed_in      TEXT REFERENCES payment_files (id),
    UNIQUE (party, period_from)
);
CREATE INDEX payment_instructions_due ON payment_instructions (due_date);
CREATE INDEX payment_instructions_unfiled ON payment_instructions (due_date) WHERE filed_in IS NULL AND direction = 'pay';

-- Lines of the bank statements imported for the operator's settlement
-- account. The same statement imported twice adds nothing: a line's
-- dedupe key is the bank's own reference for it when it has one, else a
-- digest of its content. A line the matching cannot place is resolved by
-- a person: assigned to an instruction, or set aside with a note.
CREATE TABLE bank_statement_lines (
    id              UUID PRIMARY KEY,
    dedupe_key      TEXT NOT NULL UNIQUE,
    booking_date    DATE NOT NULL,
    amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
    currency        TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    direction       TEXT NOT NULL CHECK (direction IN ('credit', 'debit')),
    -- The bank undoing an earlier entry: counts against the instruction.
    reversal        BOOLEAN NOT NULL DEFAULT false,
    account         TEXT NOT NULL DEFAULT '',
    bank_ref        TEXT NOT NULL DEFAULT '',
    end_to_end_id   TEXT NOT NULL DEFAULT '',
    reference       TEXT NOT NULL DEFAULT '',
    source          TEXT NOT NULL,
    imported_by     TEXT NOT NULL,
    imported_at     TIMESTAMPTZ NOT NULL,
    assigned_to     TEXT REFERENCES payment_instructions (end_to_end_id),
    set_aside       BOOLEAN NOT NULL DEFAULT false,
    resolution_note TEXT NOT NULL DEFAULT '',
    resolved_by     TEXT,
    resolved_at     TIMESTAMPTZ,
    CHECK (NOT (set_aside AND assigned_to IS NOT NULL))
);
CREATE INDEX bank_statement_lines_e2e ON bank_statement_lines (end_to_end_id);

-- Corrections proposed by one member of the finance staff and approved or
-- rejected by another. A points adjustment gives points to a member,
-- funded by a partner or the operator, and is posted through the ledger
-- on approval (transaction_id); a money adjustment moves money from one
-- party to another for a window, and is carried by each party's next
-- payment instruction (payer_instruction, payee_instruction).
CREATE TABLE adjustments (
    id                UUID PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('points', 'money')),
    member_id         UUID REFERENCES members (id),
    points            BIGINT CHECK (points > 0),
    funder            TEXT,
    payer             TEXT,
    payee             TEXT,
    amount_minor      BIGINT CHECK (amount_minor > 0),
    business_date     DATE,
    reason            TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    status            TEXT NOT NULL CHECK (status IN ('proposed', 'approved', 'rejected')),
    proposed_by       TEXT NOT NULL,
    proposed_by_name  TEXT NOT NULL,
    proposed_at       TIMESTAMPTZ NOT NULL,
    decided_by        TEXT,
    decided_by_name   TEXT,
    decided_at        TIMESTAMPTZ,
    decision_note     TEXT NOT NULL DEFAULT '',
    transaction_id    UUID REFERENCES transactions (id),
    payer_instruction TEXT REFERENCES payment_instructions (end_to_end_id),
    payee_instruction TEXT REFERENCES payment_instructions (end_to_end_id),
    CHECK ((kind = 'points') = (member_id IS NOT NULL AND points IS NOT NULL AND funder IS NOT NULL)),
    CHECK ((kind = 'money') = (payer IS NOT NULL AND payee IS NOT NULL AND amount_minor IS NOT NULL AND business_date IS NOT NULL)),
    CHECK (payer IS NULL OR payer <> payee),
    CHECK ((status = 'proposed') = (decided_by IS NULL)),
    CHECK (decided_by IS NULL OR decided_by <> proposed_by),
    CHECK (transaction_id IS NULL OR (kind = 'points' AND status = 'approved'))
);
CREATE INDEX adjustments_status ON adjustments (status, proposed_at);
CREATE UNIQUE INDEX adjustments_transaction ON adjustments (transaction_id) WHERE transaction_id IS NOT NULL;

-- One row that the making of payment instructions locks, so that replicas
-- running the daily job at once make each period's instructions once and
-- claim each money adjustment once, without locking a row that postings
-- read.
CREATE TABLE payment_runs_lock (
    id INT PRIMARY KEY CHECK (id = 1)
);
INSERT INTO payment_runs_lock (id) VALUES (1);

-- An approved points adjustment is posted as a bonus whose breakdown line
-- says 'adjustment' and carries the reason. The constraint has a different
-- default name on each database; drop whichever exists.
ALTER TABLE earn_lines DROP CONSTRAINT IF EXISTS earn_lines_rule_check;
ALTER TABLE earn_lines DROP CONSTRAINT IF EXISTS check_rule;
ALTER TABLE earn_lines ADD CONSTRAINT earn_lines_rule_check
    CHECK (rule IN ('base', 'tier', 'promotion', 'referral', 'welcome', 'adjustment'));
