-- Which personal offers each wallet pass was told of, so that the daily
-- job brings passes up to date with offers set-based: an offer in force
-- that targets a member with a pass and is not here is announced (a
-- message on the pass) and recorded; one here that no longer targets the
-- member (ended, expired, the member left its segment) is taken off with
-- a silent refresh. Package passes owns both tables.
CREATE TABLE pass_offers_shown (
    offer_id  UUID NOT NULL REFERENCES offers (id),
    member_id UUID NOT NULL REFERENCES wallet_passes (member_id),
    shown_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (offer_id, member_id)
);

-- Where each offer's passes were last brought up to date: an offer is gone
-- through again only when something that decides whom it targets changed
-- since (it began or ended, its segment was recomputed, coupons were
-- issued to members), so that the job, run every few minutes, reads
-- nothing of the offers that did not change.
CREATE TABLE pass_offer_syncs (
    offer_id   UUID PRIMARY KEY REFERENCES offers (id),
    synced_at  TIMESTAMPTZ NOT NULL,
    -- What was in force then: running, the segment's computation, the
    -- newest coupon issue.
    running    BOOL NOT NULL,
    segment_at TIMESTAMPTZ,
    coupons_at TIMESTAMPTZ
);
