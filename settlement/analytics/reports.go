package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Standard are the periods, in days, whose pages the daily job computes
// once it has rolled a day up, ending on that day: the last 30 days and
// the last 365, and the same before them. Any other page is computed when
// it is first asked for.
var Standard = []int{30, 365}

// page returns a scope's report of a period: stored if this page was
// computed since the last day was rolled up, else computed from the
// rollups and stored. A stored report never goes stale: the day it was
// computed as of is part of its key, and what was rolled up by then never
// changes.
func (a *Analytics) page(ctx context.Context, s scope, from, to time.Time) (Report, error) {
	from, to, err := checkPeriod(from, to)
	if err != nil {
		return Report{}, err
	}
	var stored []byte
	err = a.tx.Pool().QueryRow(ctx, `
		SELECT report FROM analytics_reports
		WHERE partner_id = $1 AND period_from = $2 AND period_to = $3
		  AND rolled_up_to = (SELECT max(business_date) FROM analytics_days)`, s.id, from, to).Scan(&stored)
	switch {
	case err == nil:
		var r Report
		if err := json.Unmarshal(stored, &r); err != nil {
			return Report{}, fmt.Errorf("stored report of %s..%s: %w", from.Format(time.DateOnly), to.Format(time.DateOnly), err)
		}
		return r, a.readBudgets(ctx, &r)
	case !errors.Is(err, pgx.ErrNoRows):
		return Report{}, fmt.Errorf("stored report of %s..%s: %w", from.Format(time.DateOnly), to.Format(time.DateOnly), err)
	}
	r, err := a.compute(ctx, s, from, to)
	if err != nil {
		return r, err
	}
	if r.RolledUpTo.IsZero() {
		return r, a.readBudgets(ctx, &r)
	}
	if err := a.store(ctx, s, r); err != nil {
		return Report{}, err
	}
	return r, a.readBudgets(ctx, &r)
}

// store keeps a computed report; replicas that computed the same page
// stored the same bytes, and the first to insert wins.
func (a *Analytics) store(ctx context.Context, s scope, r Report) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	// In a transaction of the runner, which retries it: two replicas
	// inserting the same page at once may have one refused as a
	// serialization failure (40001) rather than find the other's row.
	if err := a.tx.Run(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO analytics_reports (partner_id, period_from, period_to, rolled_up_to, report, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (partner_id, period_from, period_to, rolled_up_to) DO NOTHING`,
			s.id, r.Current.From, r.Current.To, r.RolledUpTo, b, a.clock().UTC())
		return err
	}); err != nil {
		return fmt.Errorf("store report of %s..%s: %w", r.Current.From.Format(time.DateOnly), r.Current.To.Format(time.DateOnly), err)
	}
	return nil
}

// warm computes the standard pages ending on the last day rolled up, for
// the network and every partner, unless they are all there, and deletes
// the reports of earlier days. A pass that failed half way is finished by
// the next.
func (a *Analytics) warm(ctx context.Context) error {
	var last *time.Time
	var ids []uuid.UUID
	var have int
	err := a.tx.Read(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT max(business_date) FROM analytics_days`).Scan(&last); err != nil || last == nil {
			return err
		}
		var froms []time.Time
		for _, n := range Standard {
			froms = append(froms, last.AddDate(0, 0, 1-n))
		}
		if err := tx.QueryRow(ctx, `
			SELECT count(*) FROM analytics_reports
			WHERE rolled_up_to = $1 AND period_to = $1 AND period_from = ANY($2)`, *last, froms).Scan(&have); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id FROM partners WHERE kind <> 'operator' ORDER BY code`)
		if err == nil {
			ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		}
		return err
	})
	if err != nil || last == nil || have >= len(Standard)*(len(ids)+1) {
		return err
	}
	for _, n := range Standard {
		from := last.AddDate(0, 0, 1-n)
		if _, err := a.page(ctx, scope{id: network}, from, *last); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := a.page(ctx, scope{id: id, partner: true}, from, *last); err != nil {
				return err
			}
		}
	}
	// Through the runner too: two passes deleting the same rows at once
	// may have one refused as a serialization failure.
	if err := a.tx.Run(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM analytics_reports WHERE rolled_up_to < $1`, *last)
		return err
	}); err != nil {
		return fmt.Errorf("delete reports before %s: %w", last.Format(time.DateOnly), err)
	}
	return nil
}
