// Package rules decides how many points a purchase earns. The ledger asks;
// only the ledger writes points. This first rule set is the partner's base
// rate; tiers, promotions and referrals plug in behind the same interface.
package rules

import (
	"context"
	"fmt"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Purchase is what the earn rules see of an accrual.
type Purchase struct {
	Partner  coalition.PartnerID
	Member   coalition.MemberID
	Amount   coalition.Money
	Category string
	At       time.Time
	// EarnRateBP is the partner's base rate: the share of the purchase,
	// in basis points, given back as points' worth.
	EarnRateBP int64
	// PointValueMinor is the money value of one point, in minor units.
	PointValueMinor int64
}

// Line is one part of the points earned, for the receipt.
type Line struct {
	Rule        string           `json:"rule"`
	Description string           `json:"description"`
	Points      coalition.Points `json:"points"`
}

// Earning is the outcome: the lines and their sum, and the version of the
// rule set that produced them, so the accrual can be explained later.
type Earning struct {
	Lines   []Line           `json:"lines"`
	Total   coalition.Points `json:"total"`
	Version string           `json:"version"`
}

// BaseRate earns EarnRateBP of the purchase value, in points, rounded down.
type BaseRate struct{}

// BaseRateVersion names this rule set in every accrual it computes.
const BaseRateVersion = "base-rate/1"

func (BaseRate) Earn(_ context.Context, p Purchase) (Earning, error) {
	if p.PointValueMinor <= 0 || p.EarnRateBP < 0 || p.Amount.Minor < 0 || p.Amount.Minor > coalition.MaxAmount {
		return Earning{}, fmt.Errorf("base rate: purchase out of range: %+v", p)
	}
	// points = floor(amount × rate / (10000 × value of a point)); rounding
	// down never creates value.
	pts := coalition.MulDivFloor(p.Amount.Minor, p.EarnRateBP, 10_000*p.PointValueMinor)
	return Earning{
		Lines: []Line{{
			Rule:        "base",
			Description: fmt.Sprintf("%d.%02d%% of the purchase", p.EarnRateBP/100, p.EarnRateBP%100),
			Points:      pts,
		}},
		Total:   pts,
		Version: BaseRateVersion,
	}, nil
}
