package finance

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Ageing buckets of outstanding points by the days left to their expiry at
// the period's end. Bucket 0 holds points already past their date that the
// expiry job has not yet swept.
var AgeingBuckets = []string{"expired, not yet swept", "1-30 days", "31-90 days", "91-180 days", "181-365 days", "over 365 days"}

var ageingEdges = []int{0, 30, 90, 180, 365} // days after the period's end

// IssuerLiability is one issuer's points liability over a period, as a
// roll-forward: Opening + Issued - Burned - DebtPaid - ClawedBack -
// Expired = Closing, every figure read from the ledger's lots and their
// consumptions by business date.
type IssuerLiability struct {
	Issuer     string
	Opening    coalition.Points
	Issued     coalition.Points // earns and bonuses, pending and locked points included
	Burned     coalition.Points // spent, net of refunds of spends
	DebtPaid   coalition.Points // paid members' debts after refunds
	ClawedBack coalition.Points // taken back by refunds of purchases
	Expired    coalition.Points
	Closing    coalition.Points
	// ClosingMinor is Closing at the coalition's point value.
	ClosingMinor int64
	// Ageing is Closing by AgeingBuckets.
	Ageing []coalition.Points
	// BreakageBP is the share of the period's used-up points that expired
	// rather than being spent, in basis points (0 when none were used up).
	BreakageBP int64
}

// Balances says whether the roll-forward adds up.
func (l IssuerLiability) Balances() bool {
	return l.Opening+l.Issued-l.Burned-l.DebtPaid-l.ClawedBack-l.Expired == l.Closing
}

// LiabilityStatement is the month-end liability of every issuer and of the
// network.
type LiabilityStatement struct {
	From, To        time.Time // business dates, inclusive
	Currency        string
	PointValueMinor int64
	Issuers         []IssuerLiability // by code
	Network         IssuerLiability   // the issuers summed; Issuer "network"
	// Final is whether every window of the period is cleared: until then
	// the figures can still grow with the open window's postings.
	Final bool
}

// MonthEnd states the points liability of the calendar month that
// contains month (a business date).
func (f *Finance) MonthEnd(ctx context.Context, month time.Time) (LiabilityStatement, error) {
	from, to := period(Monthly, dayOf(month))
	return f.Liability(ctx, from, to)
}

// Liability states the points liability over the business dates from..to.
func (f *Finance) Liability(ctx context.Context, from, to time.Time) (LiabilityStatement, error) {
	if to.Before(from) {
		return LiabilityStatement{}, coalition.Errorf(coalition.Invalid, "to", "the period ends before it starts")
	}
	s := LiabilityStatement{From: from, To: to}
	loc, err := f.clearing.Zone(ctx)
	if err != nil {
		return s, err
	}
	// The period ends when its last business day does, in the coalition's
	// time zone; expiry dates are measured from there.
	end := time.Date(to.Year(), to.Month(), to.Day()+1, 0, 0, 0, 0, loc)
	byIssuer := map[uuid.UUID]*IssuerLiability{}
	codes := map[uuid.UUID]string{}
	issuer := func(id uuid.UUID) *IssuerLiability {
		l := byIssuer[id]
		if l == nil {
			l = &IssuerLiability{Ageing: make([]coalition.Points, len(AgeingBuckets))}
			byIssuer[id] = l
		}
		return l
	}
	err = f.tx.Read(ctx, func(tx pgx.Tx) error {
		clear(byIssuer)
		b := &pgx.Batch{}
		b.Queue(`SELECT currency, point_value_minor FROM coalition_settings WHERE id = 1`).QueryRow(func(r pgx.Row) error {
			return r.Scan(&s.Currency, &s.PointValueMinor)
		})
		// Final once every window of the period is cleared and the
		// ledger's open window is past it.
		b.Queue(`
			SELECT NOT EXISTS (
			    SELECT 1 FROM settlement_windows AS w
			    WHERE w.business_date <= $1
			      AND (w.status = 'open' OR NOT EXISTS (SELECT 1 FROM clearing_reports AS r WHERE r.business_date = w.business_date))
			      AND w.business_date >= $2)
			   AND EXISTS (SELECT 1 FROM settlement_windows WHERE status = 'open' AND business_date > $1)`, to, from).QueryRow(func(r pgx.Row) error {
			return r.Scan(&s.Final)
		})
		b.Queue(`SELECT id, code FROM partners`).Query(func(rows pgx.Rows) error {
			var id uuid.UUID
			var code string
			_, err := pgx.ForEachRow(rows, []any{&id, &code}, func() error { codes[id] = code; return nil })
			return err
		})
		// What each issuer's lots held at the end of a day: their points
		// less every consumption (spends, refunds, debts, expiry) of that
		// day or before, by days left to expiry at the period's end.
		position := func(fn func(issuer uuid.UUID, bucket int, points coalition.Points)) func(pgx.Rows) error {
			return func(rows pgx.Rows) error {
				var id uuid.UUID
				var bucket int
				var n coalition.Points
				_, err := pgx.ForEachRow(rows, []any{&id, &bucket, &n}, func() error { fn(id, bucket, n); return nil })
				return err
			}
		}
		edges := []any{}
		for _, d := range ageingEdges {
			edges = append(edges, end.AddDate(0, 0, d))
		}
		positionSQL := `
			WITH held AS (
			    SELECT l.issuer_id, l.expires_at, l.points - COALESCE(SUM(c.points), 0) AS outstanding
			    FROM lots AS l
			    JOIN transactions AS t ON t.id = l.transaction_id
			    LEFT JOIN lot_consumptions AS c ON c.lot_id = l.id AND c.business_date <= $1
			    WHERE t.business_date <= $1
			    GROUP BY l.id, l.issuer_id, l.expires_at, l.points)
			SELECT issuer_id,
			       CASE WHEN expires_at <= $2 THEN 0 WHEN expires_at <= $3 THEN 1 WHEN expires_at <= $4 THEN 2
			            WHEN expires_at <= $5 THEN 3 WHEN expires_at <= $6 THEN 4 ELSE 5 END,
			       SUM(outstanding)
			FROM held WHERE outstanding <> 0
			GROUP BY 1, 2`
		b.Queue(positionSQL, append([]any{to}, edges...)...).Query(position(func(id uuid.UUID, bucket int, n coalition.Points) {
			l := issuer(id)
			l.Closing += n
			l.Ageing[bucket] += n
		}))
		b.Queue(positionSQL, append([]any{from.AddDate(0, 0, -1)}, edges...)...).Query(position(func(id uuid.UUID, _ int, n coalition.Points) {
			issuer(id).Opening += n
		}))
		b.Queue(`
			SELECT l.issuer_id, SUM(l.points)
			FROM lots AS l JOIN transactions AS t ON t.id = l.transaction_id
			WHERE t.business_date BETWEEN $1 AND $2
			GROUP BY 1`, from, to).Query(func(rows pgx.Rows) error {
			var id uuid.UUID
			var n coalition.Points
			_, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { issuer(id).Issued += n; return nil })
			return err
		})
		b.Queue(`
			SELECT issuer_id, kind, SUM(points)
			FROM lot_consumptions
			WHERE business_date BETWEEN $1 AND $2
			GROUP BY 1, 2`, from, to).Query(func(rows pgx.Rows) error {
			var id uuid.UUID
			var kind string
			var n coalition.Points
			_, err := pgx.ForEachRow(rows, []any{&id, &kind, &n}, func() error {
				l := issuer(id)
				switch kind {
				case "burn", "burn_refund":
					l.Burned += n
				case "debt":
					l.DebtPaid += n
				case "earn_refund":
					l.ClawedBack += n
				case "expire":
					l.Expired += n
				default:
					return fmt.Errorf("lot consumption of unknown kind %q", kind)
				}
				return nil
			})
			return err
		})
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return s, fmt.Errorf("liability %s..%s: %w", from.Format(time.DateOnly), to.Format(time.DateOnly), err)
	}
	s.Network = IssuerLiability{Issuer: "network", Ageing: make([]coalition.Points, len(AgeingBuckets))}
	for id, l := range byIssuer {
		l.Issuer = codes[id]
		s.Issuers = append(s.Issuers, *l)
	}
	slices.SortFunc(s.Issuers, func(a, b IssuerLiability) int { return strings.Compare(a.Issuer, b.Issuer) })
	for i := range s.Issuers {
		l := &s.Issuers[i]
		l.finish(s.PointValueMinor)
		n := &s.Network
		n.Opening += l.Opening
		n.Issued += l.Issued
		n.Burned += l.Burned
		n.DebtPaid += l.DebtPaid
		n.ClawedBack += l.ClawedBack
		n.Expired += l.Expired
		n.Closing += l.Closing
		for b := range l.Ageing {
			n.Ageing[b] += l.Ageing[b]
		}
	}
	s.Network.finish(s.PointValueMinor)
	return s, nil
}

func (l *IssuerLiability) finish(pointValue int64) {
	l.ClosingMinor = l.Closing.Worth(pointValue)
	if used := int64(l.Burned + l.DebtPaid + l.Expired); used > 0 && l.Expired > 0 {
		l.BreakageBP = coalition.MulDivTrunc(int64(l.Expired), 10_000, used)
	}
}

// LiabilityCSVHeader names the columns of WriteCSV: one row per issuer
// and a last one for the network, points unless the name says minor
// units, the ageing columns in the order of AgeingBuckets.
var LiabilityCSVHeader = []string{"period_from", "period_to", "issuer", "opening", "issued", "burned", "debt_paid",
	"clawed_back", "expired", "closing", "closing_minor", "currency", "breakage_bp",
	"ageing_expired_unswept", "ageing_1_30", "ageing_31_90", "ageing_91_180", "ageing_181_365", "ageing_over_365", "final"}

// WriteCSV writes the statement as CSV.
func (s LiabilityStatement) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(LiabilityCSVHeader); err != nil {
		return err
	}
	for _, l := range append(slices.Clone(s.Issuers), s.Network) {
		row := []string{s.From.Format(time.DateOnly), s.To.Format(time.DateOnly), l.Issuer}
		for _, n := range []coalition.Points{l.Opening, l.Issued, l.Burned, l.DebtPaid, l.ClawedBack, l.Expired, l.Closing} {
			row = append(row, strconv.FormatInt(int64(n), 10))
		}
		row = append(row, strconv.FormatInt(l.ClosingMinor, 10), s.Currency, strconv.FormatInt(l.BreakageBP, 10))
		for _, n := range l.Ageing {
			row = append(row, strconv.FormatInt(int64(n), 10))
		}
		row = append(row, strconv.FormatBool(s.Final))
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
