-- Self-enrolment by QR (README: "Joining by QR at the counter"): a person
-- scans a partner's enrolment QR code, proves a phone number (or an e-mail
-- address) with a one-time code, accepts the programme's terms and gets a
-- card, enrolled at that partner. Everything the flow counts or checks is
-- here, not in a replica's memory, so that replicas behind a load balancer
-- agree on codes, attempts and limits.

-- One-time codes. The browser holds a random token (in a cookie) naming
-- its code; only the token's SHA-256 is kept, and the code, the contact
-- and the client's address only as keyed hashes (the key of the phone
-- numbers' hash, in Vault), so a copy of the table tells neither who asked
-- nor the codes. The limits (codes per contact and per client address,
-- attempts per code) are counts over these rows, read in the serializable
-- transaction that adds or updates one. The maintenance job deletes rows a
-- day after they lapse.
CREATE TABLE enrolment_codes (
    token_hash   BYTEA PRIMARY KEY,
    contact_hash BYTEA NOT NULL,
    client_hash  BYTEA NOT NULL,
    code_hash    BYTEA NOT NULL,
    partner_id   UUID NOT NULL REFERENCES partners (id),
    -- The partner's point of sale the QR code named ('' for none).
    location     TEXT NOT NULL CHECK (location ~ '^([a-z0-9][a-z0-9-]{0,31})?$'),
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    attempts     INT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    used_at      TIMESTAMPTZ
);
CREATE INDEX enrolment_codes_contact ON enrolment_codes (contact_hash, created_at);
CREATE INDEX enrolment_codes_client ON enrolment_codes (client_hash, created_at);
CREATE INDEX enrolment_codes_expiry ON enrolment_codes (expires_at);

-- Members who enrolled themselves: at which partner and point of sale, by
-- which channel, for acquisition figures (members a partner enrolled with
-- EnrollMember have no row). The row is written first, as a claim on the
-- contact, before the ledger enrolls the member under the row's
-- idempotency key, and gets the member when the ledger answers: two people
-- verifying the same contact at once, or a retry after a crash, enroll one
-- member, at the partner that claimed first. contact_hash is the phone
-- number's keyed hash, as members.phone_hash, or an e-mail address's: the
-- ledger keeps no e-mail, so this row is how an address finds its member.
CREATE TABLE self_enrolments (
    contact_hash BYTEA PRIMARY KEY,
    contact_kind TEXT NOT NULL CHECK (contact_kind IN ('phone', 'email')),
    partner_id   UUID NOT NULL REFERENCES partners (id),
    location     TEXT NOT NULL CHECK (location ~ '^([a-z0-9][a-z0-9-]{0,31})?$'),
    channel      TEXT NOT NULL CHECK (channel IN ('qr')),
    enrol_key    TEXT NOT NULL,
    claimed_at   TIMESTAMPTZ NOT NULL,
    member_id    UUID UNIQUE REFERENCES members (id),
    enrolled_at  TIMESTAMPTZ,
    CHECK ((member_id IS NULL) = (enrolled_at IS NULL))
);
CREATE INDEX self_enrolments_partner ON self_enrolments (partner_id, location, enrolled_at);

-- Members' consent to the programme's terms: which version, when, and
-- through which channel. A member who signs in again by QR after the terms
-- changed consents to the new version; the first consent to each version
-- is the one kept.
CREATE TABLE terms_consents (
    member_id     UUID NOT NULL REFERENCES members (id),
    terms_version TEXT NOT NULL CHECK (length(terms_version) BETWEEN 1 AND 64),
    consented_at  TIMESTAMPTZ NOT NULL,
    channel       TEXT NOT NULL CHECK (channel IN ('qr')),
    PRIMARY KEY (member_id, terms_version)
);
