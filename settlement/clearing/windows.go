package clearing

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Window is a settlement window and whether it is cleared.
type Window struct {
	BusinessDate time.Time
	Status       string // open or closed
	Cleared      bool
	OpenedAt     time.Time
	ClosedAt     *time.Time
}

// Windows lists the windows, newest first, at most limit of them.
func (c *Clearing) Windows(ctx context.Context, limit int) ([]Window, error) {
	rows, err := c.tx.Pool().Query(ctx, `
		SELECT w.business_date, w.status, r.business_date IS NOT NULL, w.opened_at, w.closed_at
		FROM settlement_windows AS w LEFT JOIN clearing_reports AS r ON r.business_date = w.business_date
		ORDER BY w.business_date DESC
		LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("windows: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Window, error) {
		var w Window
		err := r.Scan(&w.BusinessDate, &w.Status, &w.Cleared, &w.OpenedAt, &w.ClosedAt)
		return w, err
	})
}

// Due lists the windows whose business day has ended in the coalition's
// time zone and that have no report yet, oldest first.
func (c *Clearing) Due(ctx context.Context) ([]time.Time, error) {
	loc, err := c.Zone(ctx)
	if err != nil {
		return nil, fmt.Errorf("due windows: %w", err)
	}
	today := c.clock().In(loc).Format(time.DateOnly)
	rows, err := c.tx.Pool().Query(ctx, `
		SELECT w.business_date FROM settlement_windows AS w
		WHERE w.business_date < $1
		  AND NOT EXISTS (SELECT 1 FROM clearing_reports AS r WHERE r.business_date = w.business_date)
		ORDER BY w.business_date`, today)
	if err != nil {
		return nil, fmt.Errorf("due windows: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[time.Time])
}

// RunDue clears every due window in order and returns the days it cleared.
// Every replica may call it: a window's report is stored once.
func (c *Clearing) RunDue(ctx context.Context) ([]time.Time, error) {
	due, err := c.Due(ctx)
	if err != nil {
		return nil, err
	}
	var done []time.Time
	for _, d := range due {
		if _, err := c.Run(ctx, d); err != nil {
			return done, err
		}
		done = append(done, d)
	}
	return done, nil
}
