// Package network reads the operator's view of the coalition: each
// partner's standing (outstanding points against its limit, certificates)
// and the network's figures — active members, repeat purchases, average
// check, and the share of points spent at a partner other than their
// issuer. Reads only, set-based, one statement per figure family.
package network

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// Reader reads the network's standing and figures.
type Reader struct {
	tx       *txn.Runner
	partners *partners.Register
	rules    *rules.Store
	clock    func() time.Time
}

// Config wires a reader.
type Config struct {
	Tx       *txn.Runner
	Partners *partners.Register
	// Rules, if set, give the partners' rates in force (a partner's
	// registered rate otherwise).
	Rules *rules.Store
	Clock func() time.Time // time.Now if nil
}

func New(cfg Config) *Reader {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Reader{tx: cfg.Tx, partners: cfg.Partners, rules: cfg.Rules, clock: cfg.Clock}
}

// Standing is a partner with what the operator watches about it.
type Standing struct {
	partners.Partner
	// Outstanding is the points the partner issued that are neither spent
	// nor expired: the sum of what is left of its lots.
	Outstanding coalition.Points
	// ValidCertificates counts certificates neither revoked nor expired;
	// CertificateNotAfter is the latest expiry among them.
	ValidCertificates   int
	CertificateNotAfter *time.Time
}

// Standings returns every partner's standing, by code.
func (r *Reader) Standings(ctx context.Context) ([]Standing, error) {
	ps, err := r.partners.List(ctx)
	if err != nil {
		return nil, err
	}
	if r.rules != nil {
		rs, err := r.rules.InForce(ctx, r.tx.Pool(), r.clock())
		if err != nil {
			return nil, err
		}
		for i := range ps {
			ps[i].EarnRateBP = rs.BaseRateBP(ps[i].Code, ps[i].EarnRateBP)
		}
	}
	type extra struct {
		outstanding coalition.Points
		certs       int
		notAfter    *time.Time
	}
	byID := map[coalition.PartnerID]extra{}
	// Outstanding from the lots themselves (remaining = issued − consumed,
	// an invariant `ledger check` verifies), so the figure holds whatever
	// rule made a lot. One pass over the open lots for all partners (the
	// partial index on lots WHERE is_open), not one per partner.
	rows, err := r.tx.Pool().Query(ctx, `
		WITH open_lots AS (SELECT issuer_id, SUM(remaining) AS points FROM lots WHERE is_open GROUP BY issuer_id)
		SELECT p.id,
		       COALESCE(o.points, 0),
		       (SELECT count(*) FROM partner_certificates AS c
		        WHERE c.partner_id = p.id AND c.revoked_at IS NULL AND c.not_after > $1),
		       (SELECT max(c.not_after) FROM partner_certificates AS c
		        WHERE c.partner_id = p.id AND c.revoked_at IS NULL AND c.not_after > $1)
		FROM partners AS p LEFT JOIN open_lots AS o ON o.issuer_id = p.id`, r.clock().UTC())
	if err != nil {
		return nil, fmt.Errorf("partner standings: %w", err)
	}
	for rows.Next() {
		var id coalition.PartnerID
		var e extra
		if err := rows.Scan(&id, &e.outstanding, &e.certs, &e.notAfter); err != nil {
			rows.Close()
			return nil, fmt.Errorf("partner standings: %w", err)
		}
		byID[id] = e
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("partner standings: %w", err)
	}
	out := make([]Standing, 0, len(ps))
	for _, p := range ps {
		e := byID[p.ID]
		out = append(out, Standing{Partner: p, Outstanding: e.outstanding, ValidCertificates: e.certs, CertificateNotAfter: e.notAfter})
	}
	return out, nil
}

// Figures are the network's numbers over business days From..To, both
// included.
type Figures struct {
	From, To          time.Time // business dates
	MembersTotal      int64
	ActiveMembers     int64 // with any earn or burn in the period
	PurchasingMembers int64 // with a purchase (an earn on an amount)
	RepeatMembers     int64 // with two purchases or more
	RepeatRateBP      int64 // RepeatMembers / PurchasingMembers, in basis points, rounded down
	Purchases         int64
	AverageCheck      coalition.Money // rounded down to a minor unit
	PointsIssued      coalition.Points
	PointsBurned      coalition.Points // net of burn refunds
	BurnedElsewhere   coalition.Points // of which at a partner other than the issuer
	CrossBurnBP       int64            // BurnedElsewhere / PointsBurned, in basis points, rounded down
	PointsExpired     coalition.Points
}

// Figures counts the last days business days up to and including the open
// window's (today's) business day.
func (r *Reader) Figures(ctx context.Context, days int) (Figures, error) {
	if days < 1 || days > 366 {
		return Figures{}, coalition.Errorf(coalition.Invalid, "days", "must be 1 to 366")
	}
	var f Figures
	err := pgx.BeginTxFunc(ctx, r.tx.Pool(), pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var currency string
		if err := tx.QueryRow(ctx, `
			SELECT (SELECT max(business_date) FROM settlement_windows),
			       (SELECT currency FROM coalition_settings WHERE id = 1),
			       (SELECT count(*) FROM members)`).Scan(&f.To, &currency, &f.MembersTotal); err != nil {
			return fmt.Errorf("network figures: %w", err)
		}
		f.From = f.To.AddDate(0, 0, 1-days)
		f.AverageCheck.Currency = currency
		var spent int64
		// Transactions are read by business day, which the window index
		// serves.
		if err := tx.QueryRow(ctx, `
			WITH t AS (
			    SELECT member_id, kind, points, amount_minor FROM transactions
			    WHERE business_date BETWEEN $1 AND $2
			), buyers AS (
			    SELECT member_id, count(*) AS n FROM t
			    WHERE kind = 'earn' AND amount_minor IS NOT NULL GROUP BY member_id
			)
			SELECT (SELECT count(DISTINCT member_id) FROM t WHERE kind IN ('earn', 'burn', 'capture')),
			       (SELECT count(*) FROM buyers),
			       (SELECT count(*) FROM buyers WHERE n >= 2),
			       (SELECT COALESCE(SUM(n), 0) FROM buyers),
			       (SELECT COALESCE(SUM(amount_minor), 0) FROM t WHERE kind = 'earn' AND amount_minor IS NOT NULL),
			       (SELECT COALESCE(SUM(points), 0) FROM t WHERE kind = 'earn')`, f.From, f.To).Scan(
			&f.ActiveMembers, &f.PurchasingMembers, &f.RepeatMembers, &f.Purchases, &spent, &f.PointsIssued); err != nil {
			return fmt.Errorf("network figures: %w", err)
		}
		if err := tx.QueryRow(ctx, `
			SELECT COALESCE(SUM(points) FILTER (WHERE kind IN ('burn', 'burn_refund')), 0),
			       COALESCE(SUM(points) FILTER (WHERE kind IN ('burn', 'burn_refund') AND redeemer_id <> issuer_id), 0),
			       COALESCE(SUM(points) FILTER (WHERE kind = 'expire'), 0)
			FROM lot_consumptions
			WHERE business_date BETWEEN $1 AND $2`, f.From, f.To).Scan(&f.PointsBurned, &f.BurnedElsewhere, &f.PointsExpired); err != nil {
			return fmt.Errorf("network figures: %w", err)
		}
		if f.Purchases > 0 {
			f.AverageCheck.Minor = spent / f.Purchases
		}
		f.RepeatRateBP = ratioBP(f.RepeatMembers, f.PurchasingMembers)
		f.CrossBurnBP = ratioBP(f.BurnedElsewhere, f.PointsBurned)
		return nil
	})
	return f, err
}

// ratioBP is part/whole in basis points, rounded down; 0 when whole is not
// positive.
func ratioBP[N ~int64](part, whole N) int64 {
	if whole <= 0 || part <= 0 {
		return 0
	}
	// A ratio of two amounts of one kind is a bare number.
	return coalition.MulDivFloor(int64(part), 10_000, int64(whole))
}
