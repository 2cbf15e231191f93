package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
)

// These reads serve the member's own page: the member sees every one of
// their transactions, at whichever partner, and their points lot by lot.

// MemberHistory lists all of a member's transactions, newest first, a page
// at a time (the member's own view; partners use History).
func (l *Ledger) MemberHistory(ctx context.Context, member coalition.MemberID, pageSize int, pageToken string) ([]Transaction, string, error) {
	pageSize, after, err := page(pageSize, pageToken)
	if err != nil {
		return nil, "", err
	}
	rows, err := l.tx.Pool().Query(ctx, `
		SELECT id, kind, partner_id, member_id, points, amount_minor, currency, COALESCE(order_id, ''),
		       business_date, created_at, original_id, hold_id, COALESCE(rule_version, '')
		FROM transactions
		WHERE member_id = $1
		  AND ($2::TIMESTAMPTZ IS NULL OR (created_at, id) < ($2, $3))
		ORDER BY created_at DESC, id DESC
		LIMIT $4`, member, after.at, after.id, pageSize+1)
	if err != nil {
		return nil, "", fmt.Errorf("member history: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanTransaction)
	if err != nil {
		return nil, "", fmt.Errorf("member history: %w", err)
	}
	if err := explain(ctx, l.tx.Pool(), out); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > pageSize {
		out = out[:pageSize]
		last := out[pageSize-1]
		next = encodePageToken(last.CreatedAt, last.ID)
	}
	return out, next, nil
}

// OpenLot is what is left of one earn.
type OpenLot struct {
	IssuerID      coalition.PartnerID
	Remaining     coalition.Points
	SpendableFrom time.Time
	ExpiresAt     time.Time
}

// Pending says whether the lot is still inside its issuer's return window.
func (t OpenLot) Pending(now time.Time) bool { return t.SpendableFrom.After(now) }

// ExpiringLots lists a member's lots with points left that expire within
// the horizon, soonest first.
func (l *Ledger) ExpiringLots(ctx context.Context, member coalition.MemberID, within time.Duration) ([]OpenLot, error) {
	now := l.now()
	rows, err := l.tx.Pool().Query(ctx, `
		SELECT issuer_id, remaining, spendable_from, expires_at
		FROM lots
		WHERE member_id = $1 AND is_open AND expires_at > $2 AND expires_at <= $3
		ORDER BY expires_at, id`, member, now, now.Add(within))
	if err != nil {
		return nil, fmt.Errorf("expiring lots: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OpenLot, error) {
		var t OpenLot
		err := r.Scan(&t.IssuerID, &t.Remaining, &t.SpendableFrom, &t.ExpiresAt)
		t.SpendableFrom, t.ExpiresAt = t.SpendableFrom.UTC(), t.ExpiresAt.UTC()
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("expiring lots: %w", err)
	}
	return out, nil
}

// Now is the ledger's clock, for callers that judge what it returns (is a
// lot still pending?).
func (l *Ledger) Now() time.Time { return l.now() }

// Terms reads the coalition's terms as recorded on first start.
func (l *Ledger) Terms(ctx context.Context) (Settings, error) {
	var s Settings
	err := l.tx.Pool().QueryRow(ctx, `
		SELECT name, currency, time_zone, point_value_minor FROM coalition_settings WHERE id = 1`).
		Scan(&s.Name, &s.Currency, &s.TimeZone, &s.PointValueMinor)
	if err != nil {
		return s, fmt.Errorf("coalition terms: %w", err)
	}
	return s, nil
}

// MemberCard reads a member for the member themself: with the QR token their
// phone shows at the till, which partners' lookups never return.
func (l *Ledger) MemberCard(ctx context.Context, member coalition.MemberID) (Member, error) {
	var m Member
	err := l.tx.Pool().QueryRow(ctx, `
		SELECT id, card_number, qr_token, referral_code, phone_last2, home_partner_id, enrolled_at
		FROM members WHERE id = $1`, member).Scan(
		&m.ID, &m.CardNumber, &m.QRToken, &m.ReferralCode, &m.PhoneLast2, &m.HomePartnerID, &m.EnrolledAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, coalition.Errorf(coalition.NotFound, "member", "no such member")
	}
	if err != nil {
		return m, fmt.Errorf("member card: %w", err)
	}
	m.EnrolledAt = m.EnrolledAt.UTC()
	return m, nil
}

// LockedPoints are a member's joint-promotion points that a purchase at
// one partner unlocks.
type LockedPoints struct {
	PartnerCode string
	PartnerName string
	Points      coalition.Points
}

// Locked lists the member's locked points by the partner that unlocks
// them, by code; expired ones are gone.
func (l *Ledger) Locked(ctx context.Context, member coalition.MemberID) ([]LockedPoints, error) {
	rows, err := l.tx.Pool().Query(ctx, `
		SELECT p.code, p.name, SUM(lt.remaining)
		FROM lots AS lt JOIN partners AS p ON p.id = lt.unlock_partner_id
		WHERE lt.member_id = $1 AND lt.is_open AND lt.expires_at > $2
		GROUP BY p.code, p.name
		ORDER BY p.code`, member, l.now())
	if err != nil {
		return nil, fmt.Errorf("locked points: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LockedPoints, error) {
		var lp LockedPoints
		err := r.Scan(&lp.PartnerCode, &lp.PartnerName, &lp.Points)
		return lp, err
	})
}
