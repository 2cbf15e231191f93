package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Settings are the coalition's own terms.
type Settings struct {
	Name            string
	Currency        string // ISO 4217
	TimeZone        string // IANA, e.g. "Europe/Moscow": business days are cut in it
	PointValueMinor int64  // money value of one point in minor units
	// The operator's fees in basis points: of the value of points burned at
	// a partner other than their issuer, of the value issued, and of the
	// value that expires unspent. Partners may have their own.
	InterchangeFeeBP int64
	IssueFeeBP       int64
	BreakageShareBP  int64
}

// Bootstrap records the coalition's settings and opens its first settlement
// window (today in the coalition's time zone) unless both already exist. It
// is safe to run on every start.
func (l *Ledger) Bootstrap(ctx context.Context, s Settings) error {
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return fmt.Errorf("bootstrap: time zone %q: %w", s.TimeZone, err)
	}
	if s.PointValueMinor <= 0 || len(s.Currency) != 3 || s.Name == "" {
		return errors.New("bootstrap: settings need a name, a 3-letter currency and a positive point value")
	}
	for _, bp := range []int64{s.InterchangeFeeBP, s.IssueFeeBP, s.BreakageShareBP} {
		if bp < 0 || bp > 10_000 {
			return errors.New("bootstrap: fees are basis points between 0 and 10000")
		}
	}
	return l.tx.Run(ctx, func(tx pgx.Tx) error {
		now := l.now()
		if _, err := tx.Exec(ctx, `
			INSERT INTO coalition_settings (id, name, currency, time_zone, point_value_minor,
			                                interchange_fee_bp, issue_fee_bp, breakage_share_bp, created_at)
			VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (id) DO NOTHING`, s.Name, s.Currency, s.TimeZone, s.PointValueMinor,
			s.InterchangeFeeBP, s.IssueFeeBP, s.BreakageShareBP, now); err != nil {
			return fmt.Errorf("bootstrap: settings: %w", err)
		}
		var windows int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM settlement_windows`).Scan(&windows); err != nil {
			return fmt.Errorf("bootstrap: windows: %w", err)
		}
		if windows > 0 {
			return nil
		}
		today := now.In(loc).Format(time.DateOnly)
		if _, err := tx.Exec(ctx, `
			INSERT INTO settlement_windows (business_date, status, opened_at) VALUES ($1, 'open', $2)`,
			today, now); err != nil {
			return fmt.Errorf("bootstrap: open first window: %w", err)
		}
		return nil
	})
}
