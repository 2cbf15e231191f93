-- The card in the phone: a member's Apple Wallet and Google Wallet pass,
-- the devices that hold it, the member's wish to hear of changes, and the
-- outbox of changes still to push to the pass. Package passes owns them.

-- One pass per member, made when the member first asks for it (both
-- wallets share it). updated_at is when the pass last changed as Wallet
-- sees it: whole seconds, moved at least one second forward at each
-- change, so that Last-Modified / If-Modified-Since and the web service's
-- "passesUpdatedSince" tag (its Unix seconds) tell every change apart.
-- What the next pass a device fetches announces: last_change, with the
-- new balance (points earned or spent), and news, a notice that changes no
-- number (points expiring, a promotion).
CREATE TABLE wallet_passes (
    member_id     UUID PRIMARY KEY REFERENCES members (id),
    serial_number TEXT NOT NULL UNIQUE CHECK (length(serial_number) BETWEEN 1 AND 64),
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    last_change   TEXT NOT NULL DEFAULT '',
    news          TEXT NOT NULL DEFAULT ''
);

-- The authentication tokens of a member's pass, by their SHA-256 only.
-- Each download carries a token of its own, so that a new download never
-- locks out the devices that hold an earlier one, and no token is kept
-- where it could be read back.
CREATE TABLE wallet_pass_tokens (
    token_hash BYTEA PRIMARY KEY,
    member_id  UUID NOT NULL REFERENCES wallet_passes (member_id),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX wallet_pass_tokens_member ON wallet_pass_tokens (member_id);

-- The devices that registered a pass for updates (Apple's PassKit web
-- service), with the push token APNs wakes them by.
CREATE TABLE wallet_registrations (
    device_library_id TEXT NOT NULL CHECK (length(device_library_id) BETWEEN 1 AND 128),
    pass_type_id      TEXT NOT NULL,
    serial_number     TEXT NOT NULL REFERENCES wallet_passes (serial_number),
    push_token        TEXT NOT NULL CHECK (length(push_token) BETWEEN 1 AND 200),
    registered_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (device_library_id, pass_type_id, serial_number)
);
CREATE INDEX wallet_registrations_serial ON wallet_registrations (serial_number);

-- A member's choice about messages on the pass; no row: notifications on.
-- With them off the pass is still kept current, silently.
CREATE TABLE wallet_preferences (
    member_id     UUID PRIMARY KEY REFERENCES members (id),
    notifications BOOLEAN NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- Changes to push to members' passes, written in the transaction that
-- makes them (a posting inserts its events with passes.InsertOutboxSQL),
-- so that none is lost or made twice; the event id (the ledger
-- transaction's id, or one derived from what the event announces) makes a
-- repeated insert nothing. The worker claims due rows by moving
-- next_attempt_at one lease ahead, and marks them delivered, or backs off.
-- No foreign key: a posting writes here on the accrual's hot path, and
-- only members with a pass get rows.
CREATE TABLE pass_outbox (
    event_id        UUID PRIMARY KEY,
    member_id       UUID NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('earned', 'spent', 'expiring', 'promotion', 'refresh')),
    message         TEXT NOT NULL DEFAULT '' CHECK (length(message) <= 500),
    created_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    attempts        INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX pass_outbox_due ON pass_outbox (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX pass_outbox_delivered ON pass_outbox (delivered_at) WHERE delivered_at IS NOT NULL;

-- The promotions announced on the passes: a promotion that has begun is
-- announced once to every member with a pass whose tier it is for (each
-- event's id derives from the promotion and the member, so an
-- announcement cut short and run again tells nobody twice), and then
-- recorded here, so the daily job does not go through the members again.
CREATE TABLE pass_promotions_announced (
    code         TEXT NOT NULL,
    starts       TIMESTAMPTZ NOT NULL,
    announced_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (code, starts)
);
