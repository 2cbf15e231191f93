// Package segments groups members for offers: each member's RFM scores
// (recency, frequency, monetary), computed once per cleared business day
// for the whole coalition and for each partner, and rule segments — a
// conjunction of conditions on tier, categories bought, partners visited,
// lapse, birthday month and RFM scores — defined by the operator over
// every member or by a partner over its own customers, whose membership
// the same daily pass recomputes in one set-based statement per segment.
//
// What a partner learns is counted, never listed: sizes and the RFM
// distribution of its own customers. Membership is read by offers only.
package segments

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// LookBackDays is the period RFM and the purchase conditions read: the
// business days (asOf - LookBackDays, asOf], a year of purchases.
const LookBackDays = 365

// MinCell is the smallest size a partner is told exactly of a segment
// whose conditions read its customers' purchases at other partners: a
// smaller one is reported as suppressed, so that narrow conditions cannot
// single out one of its customers' doings elsewhere.
const MinCell = 5

// network is the coalition-wide scope in member_rfm: the nil UUID, which
// no partner has.
var network = uuid.Nil

// Scope is whose segments and scores: the coalition's (Partner nil) or one
// partner's.
type Scope struct {
	Partner *coalition.PartnerID
}

// Coalition is the coalition-wide scope.
var Coalition = Scope{}

// PartnerScope is a partner's own scope.
func PartnerScope(p coalition.PartnerID) Scope { return Scope{Partner: &p} }

// id is the scope's key in member_rfm.
func (s Scope) id() uuid.UUID {
	if s.Partner == nil {
		return network
	}
	return uuid.UUID(*s.Partner)
}

// partnerArg is the scope as segments.partner_id: NULL for the coalition.
func (s Scope) partnerArg() *uuid.UUID {
	if s.Partner == nil {
		return nil
	}
	u := uuid.UUID(*s.Partner)
	return &u
}

// Segment is a defined segment and its size as last computed.
type Segment struct {
	ID      uuid.UUID
	Partner *coalition.PartnerID
	// PartnerCode is the partner's code ("" for the coalition's).
	PartnerCode string
	Code        string
	Name        string
	Definition  Definition
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Retired     bool
	// AsOf is the business day the size was computed as of; zero when
	// the segment has not been computed yet.
	AsOf time.Time
	Size int64
	// Suppressed: Size is below MinCell and withheld from the partner
	// asking (Size is then 0).
	Suppressed bool
}

// Tiers lists the tier codes the loyalty rules in force know
// (rules.Store, through a small adapter), to check a tier condition.
type Tiers func(ctx context.Context) ([]string, error)

// Config wires a Segments.
type Config struct {
	Tx *txn.Runner
	// Clock stamps rows; time.Now if nil. The business day computed is
	// the last cleared one, never the clock's.
	Clock func() time.Time
	// Tiers, if set, checks tier conditions against the rules in force;
	// nil accepts any well-formed tier code.
	Tiers Tiers
}

// Segments defines segments, computes their membership and scores, and
// reads their sizes.
type Segments struct {
	tx    *txn.Runner
	clock func() time.Time
	tiers Tiers
}

// New returns a Segments.
func New(cfg Config) *Segments {
	s := &Segments{tx: cfg.Tx, clock: cfg.Clock, tiers: cfg.Tiers}
	if s.clock == nil {
		s.clock = time.Now
	}
	return s
}

// TiersOf adapts the rules' store: the tier codes of the rules in force
// (none when they have no tiers).
func TiersOf(rs *rules.Store) Tiers {
	return func(ctx context.Context) ([]string, error) {
		cur, err := rs.Current(ctx)
		if err != nil || cur.Tiers == nil {
			return nil, err
		}
		codes := make([]string, 0, len(cur.Tiers.Levels))
		for _, l := range cur.Tiers.Levels {
			codes = append(codes, l.Code)
		}
		return codes, nil
	}
}
