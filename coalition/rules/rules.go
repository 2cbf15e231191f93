package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Purchase is an accrual and what the ledger knows of the member at that
// moment, in the accrual's own transaction.
type Purchase struct {
	Partner  string // the code of the partner where the purchase is made
	Amount   int64  // minor units of the coalition's currency
	Category string
	At       time.Time
	Location *time.Location // the coalition's time zone
	// PartnerRateBP is the rate the partner was onboarded with.
	PartnerRateBP   int64
	PointValueMinor int64

	// Tier is the member's tier as stored ("" for none).
	Tier string
	// SpendBefore is the member's qualifying spend over the tier period,
	// before this purchase.
	SpendBefore int64
	// EarnedToday is what the member already earned today at this partner
	// from its own rules (base and tier), for the daily cap.
	EarnedToday coalition.Points
	// ReferralPending: the member was referred and no referral bonus has
	// been paid yet.
	ReferralPending bool
}

// Line kinds.
const (
	LineBase      = "base"
	LineTier      = "tier"
	LinePromotion = "promotion"
	LineReferral  = "referral"
	LineWelcome   = "welcome"
	// A personal offer's points (package offers), and an offer's points
	// given for a coupon presented at the till; Ref is the offer's code.
	LineOffer  = "offer"
	LineCoupon = "coupon"
)

// Line is one part of the points earned, for the receipt and the audit.
type Line struct {
	Rule string `json:"rule"`
	// Ref is the tier's or the promotion's code.
	Ref         string           `json:"ref,omitempty"`
	Description string           `json:"description"`
	Points      coalition.Points `json:"points"`
	// Funder is the code of the partner that issues these points, or
	// "operator".
	Funder string `json:"funder"`
	// UnlockAt: the points are locked until a purchase at this partner.
	UnlockAt string `json:"unlock_at,omitempty"`
	// Budget is the promotion's budget the ledger must draw these points
	// from (zero: none); the ledger may lower Points to what is left.
	Budget coalition.Points `json:"-"`
}

// Earning is the outcome of one purchase.
type Earning struct {
	Lines   []Line           `json:"lines"`
	Total   coalition.Points `json:"total"`
	Version string           `json:"version"`
	// Tier is the member's tier after the purchase, and Upgraded whether
	// this purchase raised it.
	Tier     string `json:"tier,omitempty"`
	Upgraded bool   `json:"upgraded,omitempty"`
	// ReferrerPoints go to the member who referred this one.
	ReferrerPoints coalition.Points `json:"referrer_points,omitempty"`
}

// Sum recomputes Total from the lines.
func (e *Earning) Sum() {
	e.Total = 0
	for _, l := range e.Lines {
		e.Total += l.Points
	}
}

// Own is the points the purchase's partner funds from its own earn rules:
// what its caps and its liability limit apply to.
func (e Earning) Own() (n coalition.Points) {
	for _, l := range e.Lines {
		if l.Rule == LineBase || l.Rule == LineTier {
			n += l.Points
		}
	}
	return n
}

// Evaluate computes what a purchase earns under rs. Every rounding is down,
// so rules never create value out of a fraction of a point.
func (rs RuleSet) Evaluate(p Purchase) (Earning, error) {
	if p.PointValueMinor <= 0 || p.Amount < 0 || p.Amount > coalition.MaxAmount || p.Location == nil {
		return Earning{}, fmt.Errorf("rules: purchase out of range: amount %d, point value %d", p.Amount, p.PointValueMinor)
	}
	e := Earning{Version: VersionName(rs.Version), Tier: p.Tier}

	// The tier after this purchase: it is raised at the purchase that
	// crosses a threshold, and this purchase already earns at it. Only the
	// daily review lowers a tier.
	var tier *Tier
	if rs.Tiers != nil {
		spend := p.SpendBefore + p.Amount
		rank := -1
		for i, t := range rs.Tiers.Levels {
			if t.Code == p.Tier {
				rank = i
			}
		}
		for i, t := range rs.Tiers.Levels {
			if spend >= t.ThresholdMinor && i > rank {
				rank, e.Upgraded = i, true
			}
		}
		if rank >= 0 {
			tier = &rs.Tiers.Levels[rank]
			e.Tier = tier.Code
		} else {
			e.Tier = ""
		}
	}

	pr := rs.For(p.Partner)
	if pr == nil {
		pr = &PartnerRules{Partner: p.Partner}
	}
	if p.Amount < pr.MinPurchaseMinor {
		e.Lines = []Line{{Rule: LineBase, Funder: p.Partner, Points: 0,
			Description: fmt.Sprintf("below the minimum purchase of %s", minor(pr.MinPurchaseMinor))}}
		return e, nil
	}

	// Base points at the partner's rate for this purchase.
	var base coalition.Points
	var desc string
	rateBP, how := pr.rate(p)
	switch {
	case rateBP < 0: // points per money
		base = coalition.MulDivFloor(pr.PointsPer.Points, p.Amount, pr.PointsPer.MoneyMinor)
		desc = fmt.Sprintf("%d points per %s", pr.PointsPer.Points, minor(pr.PointsPer.MoneyMinor))
	default:
		// The share of the purchase, in money, bought at the point value:
		// where money becomes points.
		base = coalition.Points(coalition.MulDivFloor(p.Amount, rateBP, 10_000*p.PointValueMinor))
		desc = fmt.Sprintf("%s of the purchase", percent(rateBP))
	}
	if how != "" {
		desc += " (" + how + ")"
	}
	var tierPts coalition.Points
	if tier != nil && tier.MultiplierBP > 10_000 {
		tierPts = coalition.MulDivFloor(base, tier.MultiplierBP-10_000, 10_000)
	}
	// Caps on the partner's own points: the tier bonus gives way first.
	own := base + tierPts
	limit := own
	var capNote string
	if c := pr.CapPerPurchase; c > 0 && limit > c {
		limit, capNote = c, fmt.Sprintf("capped at %d points a purchase", c)
	}
	if c := pr.CapPerMemberDay; c > 0 && limit > c-p.EarnedToday {
		limit, capNote = max(c-p.EarnedToday, 0), fmt.Sprintf("capped at %d points a day, %d earned today", c, p.EarnedToday)
	}
	if limit < own {
		cut := own - limit
		t := min(cut, tierPts)
		tierPts -= t
		base -= cut - t
		desc += "; " + capNote
	}
	e.Lines = append(e.Lines, Line{Rule: LineBase, Description: desc, Points: base, Funder: p.Partner})
	if tier != nil && tier.MultiplierBP > 10_000 {
		e.Lines = append(e.Lines, Line{Rule: LineTier, Ref: tier.Code, Points: tierPts, Funder: p.Partner,
			Description: fmt.Sprintf("%s tier: × %s", tier.Name, ratio(tier.MultiplierBP))})
	}

	for _, pm := range rs.Promotions {
		if !pm.applies(p, e.Tier) {
			continue
		}
		pts := pm.BonusPoints + coalition.MulDivFloor(base, pm.MultiplierBP, 10_000)
		if pts == 0 {
			continue
		}
		funder := pm.FundedBy
		if funder == FundedByPartner {
			funder = p.Partner
		}
		d := pm.Name
		switch {
		case pm.MultiplierBP > 0 && pm.BonusPoints > 0:
			d += fmt.Sprintf(": +%s of the base points and %d points", percent(pm.MultiplierBP), pm.BonusPoints)
		case pm.MultiplierBP > 0:
			d += fmt.Sprintf(": +%s of the base points", percent(pm.MultiplierBP))
		default:
			d += fmt.Sprintf(": %d bonus points", pm.BonusPoints)
		}
		if pm.UnlockAt != "" {
			d += fmt.Sprintf(", unlocked by a purchase at %s", pm.UnlockAt)
		}
		e.Lines = append(e.Lines, Line{Rule: LinePromotion, Ref: pm.Code, Description: d, Points: pts,
			Funder: funder, UnlockAt: pm.UnlockAt, Budget: pm.BudgetPoints})
	}

	if r := rs.Referral; r != nil && p.ReferralPending && p.Amount >= r.MinPurchaseMinor {
		if r.NewMemberPoints > 0 {
			e.Lines = append(e.Lines, Line{Rule: LineReferral, Points: r.NewMemberPoints, Funder: FundedByOperator,
				Description: "referral bonus on the first purchase"})
		}
		e.ReferrerPoints = r.ReferrerPoints
	}
	e.Sum()
	return e, nil
}

// rate is the rate for the purchase and which rule gave it; -1 means
// PointsPer applies.
func (pr *PartnerRules) rate(p Purchase) (int64, string) {
	for _, c := range pr.Categories {
		if c.Category == p.Category && p.Category != "" {
			return c.RateBP, "category " + c.Category
		}
	}
	for i := len(pr.Steps) - 1; i >= 0; i-- {
		if p.Amount >= pr.Steps[i].FromMinor {
			return pr.Steps[i].RateBP, "purchases from " + minor(pr.Steps[i].FromMinor)
		}
	}
	switch {
	case pr.RateBP != nil:
		return *pr.RateBP, ""
	case pr.PointsPer != nil:
		return -1, ""
	}
	return p.PartnerRateBP, ""
}

// applies tells whether the promotion covers the purchase, with the time
// read in the coalition's time zone.
func (pm Promotion) applies(p Purchase, tier string) bool {
	if p.At.Before(pm.Starts) || !p.At.Before(pm.Ends) || p.Amount < pm.MinPurchaseMinor {
		return false
	}
	local := p.At.In(p.Location)
	if len(pm.Weekdays) > 0 && !slices.ContainsFunc(pm.Weekdays, func(d string) bool { return weekdays[d] == local.Weekday() }) {
		return false
	}
	if pm.FromHour != 0 || pm.ToHour != 0 {
		if h := local.Hour(); h < pm.FromHour || h >= pm.ToHour {
			return false
		}
	}
	if len(pm.Partners) > 0 && !slices.Contains(pm.Partners, p.Partner) {
		return false
	}
	if len(pm.Categories) > 0 && !slices.Contains(pm.Categories, p.Category) {
		return false
	}
	if len(pm.Tiers) > 0 && !slices.Contains(pm.Tiers, tier) {
		return false
	}
	return true
}

// Welcome is the bonus for a member the partner enrolls.
func (rs RuleSet) Welcome(partner string) Earning {
	e := Earning{Version: VersionName(rs.Version)}
	if pr := rs.For(partner); pr != nil && pr.WelcomePoints > 0 {
		e.Lines = []Line{{Rule: LineWelcome, Description: "welcome bonus", Points: pr.WelcomePoints, Funder: partner}}
	}
	e.Sum()
	return e
}

// TierFor is the tier a qualifying spend reaches ("" for none), and the
// next tier with the spend still needed to reach it.
func (rs RuleSet) TierFor(spend int64) (reached *Tier, next *Tier, needed int64) {
	if rs.Tiers == nil {
		return nil, nil, 0
	}
	for i := range rs.Tiers.Levels {
		t := &rs.Tiers.Levels[i]
		if spend >= t.ThresholdMinor {
			reached = t
			continue
		}
		return reached, t, t.ThresholdMinor - spend
	}
	return reached, nil, 0
}

// Tier returns the tier with the code, or nil.
func (rs RuleSet) Tier(code string) *Tier {
	if rs.Tiers == nil {
		return nil
	}
	for i := range rs.Tiers.Levels {
		if rs.Tiers.Levels[i].Code == code {
			return &rs.Tiers.Levels[i]
		}
	}
	return nil
}

// TierRank orders tiers: -1 for none or a code this set does not know.
func (rs RuleSet) TierRank(code string) int {
	if rs.Tiers == nil {
		return -1
	}
	for i, t := range rs.Tiers.Levels {
		if t.Code == code {
			return i
		}
	}
	return -1
}

func minor(m int64) string { return fmt.Sprintf("%d.%02d", m/100, m%100) }

func percent(bp int64) string {
	if bp%100 == 0 {
		return fmt.Sprintf("%d%%", bp/100)
	}
	return fmt.Sprintf("%d.%02d%%", bp/100, bp%100)
}

func ratio(bp int64) string {
	s := fmt.Sprintf("%d.%04d", bp/10_000, bp%10_000)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}
