// Package analytics computes the coalition's figures for partners and for
// the operator — members acquired, active and repeat members, purchase
// frequency, average check, points issued, spent and expired,
// cross-shopping and cohort retention — over any period, from daily
// rollups that the periodic job makes once per cleared settlement window
// from the ledger's own rows (RollUp). A page reads the rollups, never the
// ledger: sums per day and partner, and for the counts of distinct members
// one row per member and scope, a bitmap of the days they bought (days.go),
// so that its cost grows with the members active in the period, not with
// their purchases. Counts of distinct members are exact over any period of
// up to a year.
//
// Figures are integers: counts, points, money in minor units rounded down,
// shares in basis points rounded down. A partner's view holds aggregates
// only, never a member's id, and a figure in it about other partners'
// customers is suppressed when it counts fewer than MinCell members.
package analytics

import (
	"time"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
)

// network is the scope of the whole coalition in analytics_activity,
// analytics_cohorts and analytics_cohort_sizes (migrations 0017, 0019): the nil
// UUID, which no partner has.
var network = uuid.Nil

// Config wires an Analytics.
type Config struct {
	Tx    *txn.Runner
	Clock func() time.Time // time.Now if nil; stamps the days rolled up
}

// Analytics rolls cleared days up and reads figures from the rollups.
type Analytics struct {
	tx    *txn.Runner
	clock func() time.Time
}

// New returns an Analytics.
func New(cfg Config) *Analytics {
	a := &Analytics{tx: cfg.Tx, clock: cfg.Clock}
	if a.clock == nil {
		a.clock = time.Now
	}
	return a
}
