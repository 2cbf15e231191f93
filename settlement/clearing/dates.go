package clearing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
)

// ParseBusinessDate reads a business day the way a person types it:
// YYYY-MM-DD, or "today" or "yesterday" as they are at now in the
// coalition's time zone loc. The day comes back as midnight UTC, the form
// every window's date takes.
func ParseBusinessDate(s string, now time.Time, loc *time.Location) (time.Time, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "today":
		return dayOf(now.In(loc)), nil
	case "yesterday":
		return dayOf(now.In(loc)).AddDate(0, 0, -1), nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want a business day as YYYY-MM-DD, today or yesterday, got %q", s)
	}
	return d, nil
}

// dayOf is t's calendar day, as it reads in t's own location, at midnight UTC.
func dayOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Zone is the coalition's time zone, which cuts its business days.
func (c *Clearing) Zone(ctx context.Context) (*time.Location, error) {
	var zone string
	if err := c.tx.Pool().QueryRow(ctx, `SELECT time_zone FROM coalition_settings WHERE id = 1`).Scan(&zone); err != nil {
		return nil, fmt.Errorf("coalition time zone: %w", err)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("coalition time zone: %w", err)
	}
	return loc, nil
}

// BusinessDate resolves a business day as ParseBusinessDate reads it, at
// the Clearing's clock in the coalition's time zone. A plain date needs no
// database.
func (c *Clearing) BusinessDate(ctx context.Context, s string) (time.Time, error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d, nil
	}
	loc := time.UTC
	if w := strings.ToLower(strings.TrimSpace(s)); w == "today" || w == "yesterday" {
		var err error
		if loc, err = c.Zone(ctx); err != nil {
			return time.Time{}, err
		}
	}
	return ParseBusinessDate(s, c.clock(), loc)
}

// Clear clears the window of date as Run does, and says whether it was
// cleared before this call: a person told "cleared" should not be told so
// of a window cleared yesterday.
func (c *Clearing) Clear(ctx context.Context, date time.Time) (report []byte, already bool, err error) {
	b, err := c.Stored(ctx, date)
	if err == nil {
		return b, true, nil
	}
	if e, ok := coalition.AsError(err); !ok || e.Code != coalition.NotFound {
		return nil, false, err
	}
	b, err = c.Run(ctx, date)
	return b, false, err
}
