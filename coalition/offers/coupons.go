package offers

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Coupon is a code issued for an offer, to be presented at a till with an
// accrual.
type Coupon struct {
	Code  string `json:"code"` // canonical; Printed gives the dashes
	Offer string `json:"offer"`
	// MemberCard, if set, is the one member who may use it.
	MemberCard string    `json:"member_card,omitempty"`
	MaxUses    int       `json:"max_uses"`
	Uses       int       `json:"uses"`
	CreatedAt  time.Time `json:"created_at"`
}

// Issue asks for coupons of an offer.
type Issue struct {
	Offer string
	// RequestKey makes the issue idempotent: the same key for the same
	// offer returns the coupons issued the first time.
	RequestKey string
	Count      int
	// MaxUses: 1 for a single-use coupon.
	MaxUses int
	// MemberCard binds every coupon of the issue to one member.
	MemberCard string
}

func (in Issue) check() error {
	switch {
	case in.RequestKey == "" || len(in.RequestKey) > 128:
		return coalition.Errorf(coalition.Invalid, "request_key", "must be 1 to 128 characters")
	case in.Count < 1 || in.Count > MaxCouponsIssue:
		return coalition.Errorf(coalition.Invalid, "count", "must be between 1 and %d", MaxCouponsIssue)
	case in.MaxUses < 1 || in.MaxUses > MaxCouponUses:
		return coalition.Errorf(coalition.Invalid, "max_uses", "must be between 1 and %d", MaxCouponUses)
	}
	return nil
}

// IssueCoupons makes Count new codes for one of the actor's offers. The
// codes are drawn before the transaction, so that a retried transaction
// stores the same ones; a replay of the request key returns the codes of
// the first issue, and the key with another request is a Conflict.
func (s *Store) IssueCoupons(ctx context.Context, a Actor, in Issue) ([]Coupon, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	codes := make([]string, in.Count)
	for i := range codes {
		c, err := NewCode()
		if err != nil {
			return nil, fmt.Errorf("coupon code: %w", err)
		}
		codes[i] = c
	}
	hash := sha256.Sum256(fmt.Appendf(nil, "%d\x00%d\x00%s", in.Count, in.MaxUses, in.MemberCard))
	issueID := coalition.NewID()
	var out []Coupon
	err := s.tx.Run(ctx, func(tx pgx.Tx) error {
		offerID, err := ownOffer(ctx, tx, a, in.Offer)
		if err != nil {
			return err
		}
		var storedHash []byte
		var existing [16]byte
		err = tx.QueryRow(ctx, `SELECT id, request_hash FROM coupon_issues WHERE offer_id = $1 AND request_key = $2`,
			offerID, in.RequestKey).Scan(&existing, &storedHash)
		switch {
		case err == nil && string(storedHash) == string(hash[:]):
			out, err = listCoupons(ctx, tx, `c.issue_id = $1`, existing)
			return err
		case err == nil:
			return coalition.Errorf(coalition.Conflict, "request_key", "was used for another issue of this offer's coupons")
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("coupons: find issue: %w", err)
		}
		var ended *time.Time
		var ends time.Time
		if err := tx.QueryRow(ctx, `SELECT ended_at, ends_at FROM offers WHERE id = $1`, offerID).Scan(&ended, &ends); err != nil {
			return fmt.Errorf("coupons: offer: %w", err)
		}
		if ended != nil || !s.now().Before(ends) {
			return coalition.Errorf(coalition.FailedPrecondition, "offer", "offer %s is over: no more coupons", in.Offer)
		}
		var member *[16]byte
		if in.MemberCard != "" {
			var id [16]byte
			err := tx.QueryRow(ctx, `SELECT id FROM members WHERE card_number = $1`, in.MemberCard).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				return coalition.Errorf(coalition.NotFound, "member_card", "no member has this card number")
			}
			if err != nil {
				return fmt.Errorf("coupons: member: %w", err)
			}
			member = &id
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `
			INSERT INTO coupon_issues (id, offer_id, request_key, request_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
			issueID, offerID, in.RequestKey, hash[:], now); err != nil {
			return fmt.Errorf("coupons: issue: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO coupons (code, offer_id, issue_id, seq, member_id, max_uses, created_at)
			SELECT u.code, $2, $3, u.seq, $4, $5, $6
			FROM unnest($1::TEXT[]) WITH ORDINALITY AS u(code, seq)`,
			codes, offerID, issueID, member, in.MaxUses, now); err != nil {
			return fmt.Errorf("coupons: insert: %w", err)
		}
		out, err = listCoupons(ctx, tx, `c.issue_id = $1`, issueID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListCoupons returns the coupons of one of the actor's offers, in the
// order they were issued, with their uses.
func (s *Store) ListCoupons(ctx context.Context, a Actor, offer string) ([]Coupon, error) {
	var out []Coupon
	err := s.tx.Read(ctx, func(tx pgx.Tx) error {
		id, err := ownOffer(ctx, tx, a, offer)
		if err != nil {
			return err
		}
		out, err = listCoupons(ctx, tx, `c.offer_id = $1`, id)
		return err
	})
	return out, err
}

func listCoupons(ctx context.Context, tx pgx.Tx, where string, arg any) ([]Coupon, error) {
	rows, err := tx.Query(ctx, `
		SELECT c.code, o.code, COALESCE(m.card_number, ''), c.max_uses, c.uses, c.created_at
		FROM coupons AS c
		JOIN offers AS o ON o.id = c.offer_id
		LEFT JOIN members AS m ON m.id = c.member_id
		WHERE `+where+`
		ORDER BY c.created_at, c.issue_id, c.seq`, arg)
	if err != nil {
		return nil, fmt.Errorf("coupons: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Coupon, error) {
		var c Coupon
		err := r.Scan(&c.Code, &c.Offer, &c.MemberCard, &c.MaxUses, &c.Uses, &c.CreatedAt)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("coupons: list: %w", err)
	}
	return out, nil
}
