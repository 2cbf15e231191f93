// Package jobs is the periodic work every replica of the server runs:
// releasing expired holds, the daily maintenance (lots' expiry, tiers'
// review, purging lapsed sessions and enrolment codes) and clearing ended
// business days. Every pass is idempotent and safe on all replicas at
// once, so no replica has to be elected to run it. The work is reached through small interfaces, so
// the package depends on no settlement or server code.
package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/infra/telemetry"
	"github.com/coalition-loyalty/coalition/coalition/sessions"
)

// batch bounds the rows one step changes, so that each transaction stays
// small on CockroachDB; a step is repeated while a whole batch went.
const batch = 1000

// Ledger is the ledger's share of the work (*ledger.Ledger).
type Ledger interface {
	ReleaseExpiredHolds(ctx context.Context, limit int) (int64, error)
	ExpireLots(ctx context.Context, limit int) (int, error)
	ReviewTiers(ctx context.Context, limit int) (reviewed, lowered int, err error)
}

// Sessions deletes web sessions and member links long lapsed
// (*sessions.Store).
type Sessions interface {
	Purge(ctx context.Context, retention time.Duration, limit int) (int64, error)
}

// EnrolmentCodes deletes self-enrolment's long-lapsed one-time codes
// (*enrolment.Service).
type EnrolmentCodes interface {
	PurgeCodes(ctx context.Context, limit int) (int64, error)
}

// Clearer clears settlement windows: Due lists the business days that have
// ended uncleared, oldest first, and Clear clears one and says how many
// lines its report has.
type Clearer interface {
	Due(ctx context.Context) ([]time.Time, error)
	Clear(ctx context.Context, day time.Time) (lines int, err error)
}

// PaymentMaker makes the payment instructions due after clearing.
type PaymentMaker interface {
	MakeInstructions(ctx context.Context) (made int, err error)
}

// Analytics rolls the cleared days up into the figures' daily tables
// (*analytics.Analytics).
type Analytics interface {
	RollUp(ctx context.Context) (days int, err error)
}

// Segments computes members' RFM scores and segments as of the last
// cleared day, once per day (*segments.Segments).
type Segments interface {
	ComputeDue(ctx context.Context) (asOf time.Time, ok bool, err error)
}

// Jobs is one replica's periodic work. A pass logs what it changed and
// what failed, and returns nothing: the next pass tries again.
type Jobs struct {
	Ledger   Ledger
	Sessions Sessions
	// Enrolment's lapsed codes are purged by Maintain; nil: self-enrolment
	// is off.
	Enrolment EnrolmentCodes
	Clearing  Clearer
	// Payments makes the payment instructions of the periods that the
	// windows just cleared complete; nil: none are made.
	Payments PaymentMaker
	// Analytics rolls up the windows just cleared; nil: no figures.
	Analytics Analytics
	// Segments are computed after the rollup; nil: no segments.
	Segments Segments
	Metrics  *telemetry.Metrics
	Log      *slog.Logger
}

// SweepHolds marks expired holds released.
func (j *Jobs) SweepHolds(ctx context.Context) {
	j.inBatches(ctx, "release expired holds", func(limit int) (int, error) {
		n, err := j.Ledger.ReleaseExpiredHolds(ctx, limit)
		if err == nil && n > 0 {
			j.Metrics.HoldsExpired.Add(ctx, n)
			j.Log.Info("released expired holds", "count", n)
		}
		return int(n), err
	})
}

// Maintain is the daily job, run often so that a replica that restarts
// soon catches up: lots past their expiry date expire into breakage, tiers
// whose spend has fallen below their threshold are lowered, and web
// sessions, member links and self-enrolment's codes long lapsed are
// deleted.
func (j *Jobs) Maintain(ctx context.Context) {
	j.inBatches(ctx, "expire lots", func(limit int) (int, error) {
		n, err := j.Ledger.ExpireLots(ctx, limit)
		if err == nil && n > 0 {
			j.Log.Info("expired lots", "lots", n)
		}
		return n, err
	})
	j.inBatches(ctx, "review tiers", func(limit int) (int, error) {
		n, down, err := j.Ledger.ReviewTiers(ctx, limit)
		if err == nil && down > 0 {
			j.Log.Info("lowered tiers", "reviewed", n, "lowered", down)
		}
		return n, err
	})
	j.inBatches(ctx, "purge lapsed sessions and links", func(limit int) (int, error) {
		n, err := j.Sessions.Purge(ctx, sessions.DefaultRetention, limit)
		if err == nil && n > 0 {
			j.Log.Info("purged lapsed sessions and links", "rows", n)
		}
		return int(n), err
	})
	if j.Enrolment != nil {
		j.inBatches(ctx, "purge lapsed enrolment codes", func(limit int) (int, error) {
			n, err := j.Enrolment.PurgeCodes(ctx, limit)
			if err == nil && n > 0 {
				j.Log.Info("purged lapsed enrolment codes", "rows", n)
			}
			return int(n), err
		})
	}
}

// ClearDue clears the windows whose business day has ended, oldest first,
// and stops at the first that fails. Every replica runs it; the report's
// primary key keeps one per window.
func (j *Jobs) ClearDue(ctx context.Context) {
	due, err := j.Clearing.Due(ctx)
	for _, day := range due {
		start := time.Now()
		var lines int
		if lines, err = j.Clearing.Clear(ctx, day); err != nil {
			break
		}
		// Durations are the real time clearing took, whatever the business
		// clock says.
		j.Metrics.ClearingDuration.Record(ctx, time.Since(start).Seconds())
		j.Metrics.ClearingLines.Add(ctx, int64(lines))
		j.Log.InfoContext(ctx, "cleared settlement window", "business_date", day.Format(time.DateOnly), "lines", lines,
			"seconds", time.Since(start).Seconds())
	}
	if err != nil && ctx.Err() == nil {
		j.Log.Error("clearing", "error", err)
	}
	if ctx.Err() != nil {
		return
	}
	// After every pass, not only after one that cleared: a pass that
	// failed half way leaves periods whose instructions the next makes,
	// and days the next rolls up.
	if j.Payments != nil {
		if n, err := j.Payments.MakeInstructions(ctx); err != nil {
			if ctx.Err() == nil {
				j.Log.Error("make payment instructions", "error", err)
			}
		} else if n > 0 {
			j.Log.InfoContext(ctx, "made payment instructions", "count", n)
		}
	}
	if j.Analytics != nil {
		if n, err := j.Analytics.RollUp(ctx); err != nil {
			if ctx.Err() == nil {
				j.Log.Error("roll up analytics", "error", err, "days", n)
			}
		} else if n > 0 {
			j.Log.InfoContext(ctx, "rolled up analytics", "days", n)
		}
	}
	if j.Segments != nil {
		if d, ok, err := j.Segments.ComputeDue(ctx); err != nil {
			if ctx.Err() == nil {
				j.Log.Error("compute segments", "error", err)
			}
		} else if ok {
			j.Log.InfoContext(ctx, "computed segments", "business_date", d.Format(time.DateOnly))
		}
	}
}

// inBatches runs one step of a pass, a batch at a time, until a batch is
// not full or the step fails (logged as what, unless the server is
// stopping: a cancelled query is not a fault).
func (j *Jobs) inBatches(ctx context.Context, what string, step func(limit int) (int, error)) {
	for {
		n, err := step(batch)
		if err != nil {
			if ctx.Err() == nil {
				j.Log.Error(what, "error", err)
			}
			return
		}
		if n < batch {
			return
		}
	}
}

// Every runs pass every interval until ctx ends; with first, once at the
// start too.
func Every(ctx context.Context, interval time.Duration, first bool, pass func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	OnTicks(ctx, t.C, first, pass)
}

// OnTicks runs pass at each tick until ctx ends; with first, once before
// the first tick too. It is Every with the ticks given, so that a test can
// drive the schedule instead of waiting for it.
func OnTicks(ctx context.Context, ticks <-chan time.Time, first bool, pass func(context.Context)) {
	if first {
		pass(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			pass(ctx)
		}
	}
}
