package segments

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
)

// query is the SQL of a segment's members as of a day: one statement over
// members, whose conditions are semi-joins on member_rfm (as of that day),
// member_tiers, member_profiles and, for categories only, the look-back's
// earns.
type query struct {
	sql  string
	args []any
}

func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return fmt.Sprintf("$%d", len(q.args))
}

// membersOf builds the query of the members of a segment of scope with
// definition d, as of asOf (member_rfm must hold that day's scores).
func membersOf(scope Scope, d Definition, asOf time.Time) query {
	var q query
	// The scope's id is an argument only if a condition reads it: an
	// argument no statement uses has no type for PostgreSQL.
	var scopeArg string
	scopeID := func() string {
		if scopeArg == "" {
			scopeArg = q.arg(scope.id()) + "::UUID"
		}
		return scopeArg
	}
	var where []string
	if scope.Partner != nil {
		// A partner's customers: those it enrolled, and those who bought
		// there within the look-back (they have its scores).
		where = append(where, fmt.Sprintf(`(m.home_partner_id = %[1]s
		    OR m.id IN (SELECT member_id FROM member_rfm WHERE scope_id = %[1]s))`, scopeID()))
	}
	if len(d.Tiers) > 0 {
		where = append(where, fmt.Sprintf(`m.id IN (SELECT member_id FROM member_tiers WHERE tier = ANY(%s::TEXT[]))`, q.arg(d.Tiers)))
	}
	if len(d.Categories) > 0 {
		at := ""
		if scope.Partner != nil {
			at = " AND partner_id = " + scopeID()
		}
		where = append(where, fmt.Sprintf(`m.id IN (
		    SELECT member_id FROM transactions
		    WHERE kind = 'earn' AND business_date >= %s::DATE AND business_date <= %s::DATE
		      AND category = ANY(%s::TEXT[])%s)`, q.arg(lookBackStart(asOf)), q.arg(asOf), q.arg(d.Categories), at))
	}
	if len(d.VisitedPartners) > 0 {
		where = append(where, fmt.Sprintf(`m.id IN (
		    SELECT member_id FROM member_rfm
		    WHERE scope_id IN (SELECT id FROM partners WHERE code = ANY(%s::TEXT[])))`, q.arg(d.VisitedPartners)))
	}
	if d.MinPartnersVisited > 0 {
		where = append(where, fmt.Sprintf(`m.id IN (
		    SELECT member_id FROM member_rfm WHERE scope_id <> %s
		    GROUP BY member_id HAVING count(*) >= %s)`, q.arg(network)+"::UUID", q.arg(d.MinPartnersVisited)))
	}
	var scores []string
	if d.LapsedDays > 0 {
		scores = append(scores, "recency_days >= "+q.arg(d.LapsedDays))
	}
	for _, r := range []struct {
		col string
		r   *ScoreRange
	}{{"r", d.Recency}, {"f", d.Frequency}, {"m", d.Monetary}} {
		if r.r != nil {
			scores = append(scores, fmt.Sprintf("%s BETWEEN %s AND %s", r.col, q.arg(r.r.Min), q.arg(r.r.Max)))
		}
	}
	if len(scores) > 0 {
		where = append(where, fmt.Sprintf(`m.id IN (SELECT member_id FROM member_rfm WHERE scope_id = %s AND %s)`,
			scopeID(), strings.Join(scores, " AND ")))
	}
	if d.BirthdayMonth > 0 {
		where = append(where, fmt.Sprintf(`m.id IN (SELECT member_id FROM member_profiles WHERE birth_month = %s)`, q.arg(d.BirthdayMonth)))
	}
	if len(where) == 0 {
		where = []string{"TRUE"}
	}
	q.sql = "SELECT m.id FROM members AS m WHERE " + strings.Join(where, "\n\t  AND ")
	return q
}

// storeMembership makes segment_members of one segment what its query
// says as of asOf, writing only the difference from what is there (from
// one day to the next few members change), and stamps its size.
func (s *Segments) storeMembership(ctx context.Context, seg stored, asOf time.Time) error {
	q := membersOf(seg.scope(), seg.def, asOf)
	id := q.arg(seg.id)
	return s.tx.Run(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO segment_members (segment_id, member_id)
			SELECT `+id+`::UUID, q.id FROM (`+q.sql+`) AS q
			ON CONFLICT (segment_id, member_id) DO NOTHING`, q.args...); err != nil {
			return fmt.Errorf("segment %s: add members: %w", seg.code, err)
		}
		// The members who left, as a set difference: each side is read
		// once. A NOT IN or NOT EXISTS on the query is planned by the
		// segment's row count in the statistics, which just after the
		// insert above (a new segment, the first day) say none, and then
		// ran the query once per member: minutes at 400,000 members (see
		// docs/BENCHMARKS.md, segments).
		if _, err := tx.Exec(ctx, `
			DELETE FROM segment_members
			WHERE segment_id = `+id+` AND member_id IN (
			    SELECT member_id FROM segment_members WHERE segment_id = `+id+`
			    EXCEPT
			    SELECT q.id FROM (`+q.sql+`) AS q)`, q.args...); err != nil {
			return fmt.Errorf("segment %s: drop members: %w", seg.code, err)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE segments
			SET as_of = $2, computed_at = $3, size = (SELECT count(*) FROM segment_members WHERE segment_id = $1)
			WHERE id = $1`, seg.id, asOf, s.clock().UTC()); err != nil {
			return fmt.Errorf("segment %s: size: %w", seg.code, err)
		}
		return nil
	})
}

// stored is a segment's row as the computation reads it.
type stored struct {
	id      uuid.UUID
	partner *uuid.UUID
	code    string
	def     Definition
}

func (st stored) scope() Scope {
	if st.partner == nil {
		return Coalition
	}
	return PartnerScope(coalition.PartnerID(*st.partner))
}

func liveSegments(ctx context.Context, tx pgx.Tx) ([]stored, error) {
	rows, err := tx.Query(ctx, `SELECT id, partner_id, code, definition FROM segments WHERE retired_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (stored, error) {
		var st stored
		var body []byte
		if err := r.Scan(&st.id, &st.partner, &st.code, &body); err != nil {
			return st, err
		}
		if err := json.Unmarshal(body, &st.def); err != nil {
			return st, fmt.Errorf("segment %s: definition: %w", st.code, err)
		}
		return st, nil
	})
}

// Compute computes the RFM scores and every live segment's membership as
// of business day asOf, and records the day computed. Computing the same
// day again gives the same scores and members. The periodic job calls it
// through ComputeDue; a test calls it with the day it wants.
func (s *Segments) Compute(ctx context.Context, asOf time.Time) error {
	asOf = day(asOf)
	if err := s.computeRFM(ctx, asOf); err != nil {
		return err
	}
	var segs []stored
	if err := s.tx.Read(ctx, func(tx pgx.Tx) (err error) {
		segs, err = liveSegments(ctx, tx)
		return err
	}); err != nil {
		return fmt.Errorf("segments to compute: %w", err)
	}
	for _, seg := range segs {
		if err := s.storeMembership(ctx, seg, asOf); err != nil {
			return err
		}
	}
	return s.tx.Run(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO segment_days (business_date, computed_at) VALUES ($1, $2)
			ON CONFLICT (business_date) DO UPDATE SET computed_at = excluded.computed_at`, asOf, s.clock().UTC())
		return err
	})
}

// ComputeDue computes segments as of the last cleared business day, unless
// that day is computed already, and says which day it computed (ok false:
// none was due). Replicas that race compute the same rows.
func (s *Segments) ComputeDue(ctx context.Context) (asOf time.Time, ok bool, err error) {
	var last *time.Time
	var done bool
	err = s.tx.Read(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT max(business_date) FROM clearing_reports`).Scan(&last); err != nil {
			return err
		}
		if last == nil {
			return nil
		}
		return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM segment_days WHERE business_date = $1)`, *last).Scan(&done)
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("segments due: %w", err)
	}
	if last == nil || done {
		return time.Time{}, false, nil
	}
	if err := s.Compute(ctx, *last); err != nil {
		return time.Time{}, false, err
	}
	return *last, true, nil
}

// lastComputed is the last business day segments were computed as of.
func lastComputed(ctx context.Context, tx pgx.Tx) (time.Time, bool, error) {
	var d *time.Time
	if err := tx.QueryRow(ctx, `SELECT max(business_date) FROM segment_days`).Scan(&d); err != nil {
		return time.Time{}, false, err
	}
	if d == nil {
		return time.Time{}, false, nil
	}
	return *d, true, nil
}

// day is t's calendar date, as a DATE parameter reads it.
func day(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }
