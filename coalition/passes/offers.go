package passes

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition/wallet/pkpass"
)

// Offer is a personal offer on the member's card.
type Offer struct {
	Code, Name string
	Gives      string // what it gives, in words
	Ends       time.Time
	// Coupons are the member's own coupons of the offer with uses left,
	// printed.
	Coupons []string
}

// MaxOffers is how many offers a pass shows: the back of a card is read
// on a phone, and the front has room for one.
const MaxOffers = 3

// shownOffers are the offers the pass shows: those ending soonest first
// (the ones to use before they lapse), the first on the front.
func (s *Service) shownOffers(all []Offer) []pkpass.Offer {
	sorted := slices.SortedStableFunc(slices.Values(all), func(a, b Offer) int {
		return cmp.Or(a.Ends.Compare(b.Ends), cmp.Compare(a.Code, b.Code))
	})
	var out []pkpass.Offer
	for _, o := range sorted[:min(len(sorted), MaxOffers)] {
		po := pkpass.Offer{Name: o.Name, Gives: o.Gives, Until: o.Ends.In(s.cfg.Zone)}
		if len(o.Coupons) > 0 {
			po.Coupon = o.Coupons[0]
		}
		out = append(out, po)
	}
	return out
}

// Bringing passes up to date with personal offers. Whom an offer targets
// changes when it begins or ends (its period, or EndOffer), when its
// segment is recomputed by the daily job or retired, and when coupons are
// issued to named members. pass_offers_shown holds which offers each pass
// was told of; SyncOffers goes through only the offers for which one of
// those changed since their last sync (pass_offer_syncs), and for each
// compares, in SQL, whom it targets now with whom it was shown to: a
// member with a pass newly targeted gets a "promotion" event (the pass
// says "New offer: …"), one no longer targeted a silent refresh (the
// offer leaves the card). Both go a page of members at a time, each page
// one transaction of set-based statements keyed on the member id, so that
// an offer to millions of members is neither one huge transaction nor a
// round trip per member. A sync cut short is resumed by the next run (the
// offer's sync row is written last); two replicas syncing at once write
// each event once, since an event is written only with the shown row it
// adds or deletes.

// offerTargetsSQL is the members with a pass that offer $1 targets, after
// member $2, the first $3 of them in member order. Each branch reads its
// own index in member order and stops at the page's end (the pages of the
// union are the union's pages).
const offerTargetsSQL = `
	SELECT member_id FROM (
	    (SELECT sm.member_id FROM offers AS o
	     JOIN segment_members AS sm ON sm.segment_id = o.segment_id
	     JOIN wallet_passes AS w ON w.member_id = sm.member_id
	     WHERE o.id = $1 AND sm.member_id > $2 ORDER BY sm.member_id LIMIT $3)
	    UNION
	    (SELECT om.member_id FROM offer_members AS om
	     JOIN wallet_passes AS w ON w.member_id = om.member_id
	     WHERE om.offer_id = $1 AND om.member_id > $2 ORDER BY om.member_id LIMIT $3)
	    UNION
	    (SELECT c.member_id FROM coupons AS c
	     JOIN wallet_passes AS w ON w.member_id = c.member_id
	     WHERE c.offer_id = $1 AND c.member_id > $2 AND c.uses < c.max_uses ORDER BY c.member_id LIMIT $3)
	) AS t
	ORDER BY member_id
	LIMIT $3`

// announceOffersSQL records offer $1 shown to the members $3 (a page of
// those it targets) at $2 and writes an event for each it was not shown
// to yet; $4 seeds the events' ids, $5 is the message.
const announceOffersSQL = `
	WITH fresh AS (
	    INSERT INTO pass_offers_shown (offer_id, member_id, shown_at)
	    SELECT $1::UUID, m, $2::TIMESTAMPTZ FROM unnest($3::UUID[]) AS m
	    ON CONFLICT (offer_id, member_id) DO NOTHING
	    RETURNING member_id)
	INSERT INTO pass_outbox (event_id, member_id, kind, message, created_at, next_attempt_at)
	SELECT md5($4::TEXT || member_id::TEXT)::UUID, member_id, 'promotion', $5::TEXT, $2::TIMESTAMPTZ, $2::TIMESTAMPTZ
	FROM fresh
	ON CONFLICT (event_id) DO NOTHING`

// shownPageSQL is a page of the members offer $1 was shown to.
const shownPageSQL = `
	SELECT member_id FROM pass_offers_shown
	WHERE offer_id = $1 AND member_id > $2
	ORDER BY member_id LIMIT $3`

// withdrawOffersSQL takes offer $1 off the passes of the members $3 (a
// page of those it was shown to) that it no longer targets ($4: whether
// it is in force at all), with a silent refresh each; $2 is now and $5
// seeds the events' ids.
const withdrawOffersSQL = `
	WITH gone AS (
	    DELETE FROM pass_offers_shown AS s
	    WHERE s.offer_id = $1 AND s.member_id = ANY($3::UUID[])
	      AND NOT ($4::BOOL AND (
	          EXISTS (SELECT 1 FROM offers AS o JOIN segment_members AS sm ON sm.segment_id = o.segment_id
	                  WHERE o.id = $1 AND sm.member_id = s.member_id)
	          OR EXISTS (SELECT 1 FROM offer_members AS om WHERE om.offer_id = $1 AND om.member_id = s.member_id)
	          OR EXISTS (SELECT 1 FROM coupons AS c WHERE c.offer_id = $1 AND c.member_id = s.member_id AND c.uses < c.max_uses)))
	    RETURNING s.member_id)
	INSERT INTO pass_outbox (event_id, member_id, kind, message, created_at, next_attempt_at)
	SELECT md5($5::TEXT || member_id::TEXT)::UUID, member_id, 'refresh', '', $2::TIMESTAMPTZ, $2::TIMESTAMPTZ
	FROM gone
	ON CONFLICT (event_id) DO NOTHING`

// offerState is what decides whom an offer targets, as a sync reads it.
type offerState struct {
	id        uuid.UUID
	name      string
	ends      time.Time
	running   bool
	segmentAt *time.Time
	couponsAt *time.Time
	synced    bool // synced before: some passes may show it
}

// offersToSyncSQL is the offers whose targets may have changed since
// their last sync at $1 (now): in force and never synced, or synced with
// another state than now's.
const offersToSyncSQL = `
	WITH o AS (
	    SELECT o.id, o.name, o.ends_at,
	           (o.ended_at IS NULL AND o.starts_at <= $1 AND o.ends_at > $1) AS running,
	           COALESCE(g.retired_at, g.computed_at) AS segment_at,
	           (SELECT max(ci.created_at) FROM coupon_issues AS ci WHERE ci.offer_id = o.id) AS coupons_at
	    FROM offers AS o LEFT JOIN segments AS g ON g.id = o.segment_id)
	SELECT o.id, o.name, o.ends_at, o.running, o.segment_at, o.coupons_at, y.offer_id IS NOT NULL
	FROM o LEFT JOIN pass_offer_syncs AS y ON y.offer_id = o.id
	WHERE (y.offer_id IS NULL AND o.running)
	   OR (y.offer_id IS NOT NULL AND (y.running <> o.running
	       OR (o.running AND (y.segment_at IS DISTINCT FROM o.segment_at OR y.coupons_at IS DISTINCT FROM o.coupons_at))))
	ORDER BY o.id`

// SyncOffers brings the passes up to date with the personal offers whose
// targets changed since the last sync, page members at a time, and
// returns how many announcements and withdrawals it wrote to the outbox.
func (s *Service) SyncOffers(ctx context.Context, page int) (announced, withdrawn int64, err error) {
	now := s.now()
	rows, err := s.cfg.Tx.Pool().Query(ctx, offersToSyncSQL, now)
	if err != nil {
		return 0, 0, fmt.Errorf("offers to bring to the passes: %w", err)
	}
	todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (offerState, error) {
		var o offerState
		err := r.Scan(&o.id, &o.name, &o.ends, &o.running, &o.segmentAt, &o.couponsAt, &o.synced)
		return o, err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("offers to bring to the passes: %w", err)
	}
	for _, o := range todo {
		a, w, err := s.syncOffer(ctx, o, now, page)
		announced, withdrawn = announced+a, withdrawn+w
		if err != nil {
			return announced, withdrawn, fmt.Errorf("bring offer %s to the passes: %w", o.id, err)
		}
	}
	return announced, withdrawn, nil
}

func (s *Service) syncOffer(ctx context.Context, o offerState, now time.Time, page int) (announced, withdrawn int64, err error) {
	seed := o.id.String() + "/" + now.Format(time.RFC3339Nano) + "/"
	if o.synced {
		n, err := s.offerPages(ctx, shownPageSQL, o.id, page, withdrawOffersSQL, func(ids []uuid.UUID) []any {
			return []any{o.id, now, ids, o.running, "withdraw/" + seed}
		})
		withdrawn += n
		if err != nil {
			return announced, withdrawn, err
		}
	}
	if o.running {
		msg := fmt.Sprintf("New offer: %s, until %s", o.name, o.ends.In(s.cfg.Zone).Format("2 Jan 2006"))
		n, err := s.offerPages(ctx, offerTargetsSQL, o.id, page, announceOffersSQL, func(ids []uuid.UUID) []any {
			return []any{o.id, now, ids, "announce/" + seed, msg}
		})
		announced += n
		if err != nil {
			return announced, withdrawn, err
		}
	}
	_, err = s.cfg.Tx.Pool().Exec(ctx, `
		INSERT INTO pass_offer_syncs (offer_id, synced_at, running, segment_at, coupons_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (offer_id) DO UPDATE SET synced_at = excluded.synced_at, running = excluded.running,
		    segment_at = excluded.segment_at, coupons_at = excluded.coupons_at`,
		o.id, now, o.running, o.segmentAt, o.couponsAt)
	return announced, withdrawn, err
}

// offerPages reads the members of offer a page at a time (pageSQL: offer,
// after, limit) and runs write on each page in a transaction of its own,
// with the arguments args makes of the page's ids. It returns the rows
// write affected.
func (s *Service) offerPages(ctx context.Context, pageSQL string, offer uuid.UUID, page int, write string,
	args func([]uuid.UUID) []any) (int64, error) {
	var written int64
	var after uuid.UUID // the zero id sorts first
	for {
		var ids []uuid.UUID
		var n int64
		err := s.cfg.Tx.Write(ctx, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, pageSQL, offer, after, page)
			if err != nil {
				return err
			}
			if ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil || len(ids) == 0 {
				return err
			}
			tag, err := tx.Exec(ctx, write, args(ids)...)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return written, err
		}
		written += n
		if len(ids) < page {
			return written, nil
		}
		after = ids[len(ids)-1]
	}
}
