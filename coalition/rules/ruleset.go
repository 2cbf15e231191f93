// Package rules decides how many points a purchase earns, and why. The
// ledger asks; only the ledger writes points. A RuleSet is one version of
// the coalition's rules: earn rules per partner, tiers, promotions and the
// referral bonus. Versions take effect from a timestamp on and are never
// changed once stored, so every accrual can be explained by the version it
// names. Evaluate is pure: the ledger reads the member's state (tier, spend,
// what was earned today) and hands it in.
package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
)

// RuleSet is the coalition's rules from EffectiveFrom on.
type RuleSet struct {
	// Version is assigned when the set is stored: 1, 2, ... Zero is the
	// implicit set of a coalition that never stored one (base rates only).
	Version       int64     `json:"version,omitempty"`
	EffectiveFrom time.Time `json:"effective_from"`
	Note          string    `json:"note,omitempty"`

	Partners   []PartnerRules `json:"partners,omitempty"`
	Tiers      *Tiers         `json:"tiers,omitempty"`
	Promotions []Promotion    `json:"promotions,omitempty"`
	Referral   *Referral      `json:"referral,omitempty"`
}

// PartnerRules are one partner's earn rules. The rate of a purchase is the
// first that applies of: its category's rate, the highest step the amount
// reaches, the partner's rate here, its points per money, and the rate the
// partner was onboarded with.
type PartnerRules struct {
	Partner string `json:"partner"`
	// RateBP is cashback: the share of the purchase, in basis points, given
	// back as points' worth.
	RateBP *int64 `json:"rate_bp,omitempty"`
	// PointsPer earns Points for every MoneyMinor spent (pro rata, rounded
	// down), instead of a share of the value.
	PointsPer  *PointsPer     `json:"points_per,omitempty"`
	Categories []CategoryRate `json:"categories,omitempty"`
	Steps      []Step         `json:"steps,omitempty"`
	// MinPurchaseMinor: smaller purchases earn nothing.
	MinPurchaseMinor int64 `json:"min_purchase_minor,omitempty"`
	// Caps on the partner's own points (base and tier), zero for none.
	CapPerPurchase  int64 `json:"cap_per_purchase,omitempty"`
	CapPerMemberDay int64 `json:"cap_per_member_day,omitempty"`
	// WelcomePoints are given, at the partner's cost, to a member it enrolls.
	WelcomePoints int64 `json:"welcome_points,omitempty"`
}

// PointsPer is "Points points per MoneyMinor spent".
type PointsPer struct {
	Points     int64 `json:"points"`
	MoneyMinor int64 `json:"money_minor"`
}

// CategoryRate replaces the rate for purchases of one category.
type CategoryRate struct {
	Category string `json:"category"`
	RateBP   int64  `json:"rate_bp"`
}

// Step replaces the rate for purchases of at least FromMinor.
type Step struct {
	FromMinor int64 `json:"from_minor"`
	RateBP    int64 `json:"rate_bp"`
}

// Tiers rank members by their qualifying spend across the whole coalition
// over the last PeriodDays days.
type Tiers struct {
	PeriodDays int    `json:"period_days"`
	Levels     []Tier `json:"levels"`
}

// Tier is reached at ThresholdMinor of qualifying spend; it multiplies the
// partner's earn by MultiplierBP / 10000 (15000: × 1.5).
type Tier struct {
	Code           string `json:"code"`
	Name           string `json:"name"`
	ThresholdMinor int64  `json:"threshold_minor"`
	MultiplierBP   int64  `json:"multiplier_bp"`
}

// Funders of a promotion besides a partner's code.
const (
	FundedByPartner  = "partner"  // the partner where the purchase is made
	FundedByOperator = "operator" // the coalition operator
)

// Promotion is a time-limited bonus on matching purchases: extra points as a
// share of the base points (MultiplierBP, 10000: double points), a fixed
// BonusPoints, or both.
type Promotion struct {
	Code string `json:"code"`
	Name string `json:"name"`
	// [Starts, Ends): the season.
	Starts time.Time `json:"starts"`
	Ends   time.Time `json:"ends"`
	// Days of the week ("mon" ... "sun") and hours [FromHour, ToHour) in
	// the coalition's time zone; empty and 0-0: any.
	Weekdays []string `json:"weekdays,omitempty"`
	FromHour int      `json:"from_hour,omitempty"`
	ToHour   int      `json:"to_hour,omitempty"`
	// Scope; empty: any.
	Partners         []string `json:"partners,omitempty"`
	Categories       []string `json:"categories,omitempty"`
	Tiers            []string `json:"tiers,omitempty"`
	MinPurchaseMinor int64    `json:"min_purchase_minor,omitempty"`

	MultiplierBP int64 `json:"multiplier_bp,omitempty"`
	BonusPoints  int64 `json:"bonus_points,omitempty"`
	// FundedBy is "partner", "operator" or a partner's code: the issuer of
	// the bonus points, who pays for them when they are spent.
	FundedBy string `json:"funded_by"`
	// UnlockAt makes it a joint promotion: the bonus stays locked until the
	// member buys at this partner.
	UnlockAt string `json:"unlock_at,omitempty"`
	// BudgetPoints caps the points the promotion gives in all; zero: none.
	BudgetPoints int64 `json:"budget_points,omitempty"`
}

// Referral pays both members, at the operator's cost, on the referred
// member's first purchase of at least MinPurchaseMinor.
type Referral struct {
	ReferrerPoints   int64 `json:"referrer_points"`
	NewMemberPoints  int64 `json:"new_member_points"`
	MinPurchaseMinor int64 `json:"min_purchase_minor,omitempty"`
}

// Decode reads a rule set from JSON, refusing unknown fields, so that a typo
// in a rule is an error rather than a rule silently ignored.
func Decode(data []byte) (RuleSet, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rs RuleSet
	if err := dec.Decode(&rs); err != nil {
		return RuleSet{}, coalition.Errorf(coalition.Invalid, "rules", "not a rule set: %v", err)
	}
	return rs, nil
}

// Encode writes a rule set as stored: compact JSON, the same bytes for the
// same rules.
func Encode(rs RuleSet) []byte {
	b, err := json.Marshal(rs)
	if err != nil {
		panic(err) // plain structs of strings, integers and times
	}
	return b
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// maxRateBP allows up to ten times the purchase value back: generous, but
// it keeps MulDivFloor's operands far from overflow.
const maxRateBP = 100_000

// Validate checks a rule set against itself and the coalition's partners
// (their codes). The first problem found is returned with the path of the
// field, e.g. "tiers.levels[1].threshold_minor".
func (rs RuleSet) Validate(partnerCodes []string) error {
	bad := func(field, format string, args ...any) error {
		return coalition.Errorf(coalition.Invalid, field, format, args...)
	}
	known := func(code string) bool { return slices.Contains(partnerCodes, code) }
	if len(rs.Note) > 500 {
		return bad("note", "must be at most 500 characters")
	}
	rate := func(field string, bp int64) error {
		if bp < 0 || bp > maxRateBP {
			return bad(field, "must be between 0 and %d basis points, got %d", maxRateBP, bp)
		}
		return nil
	}
	nonNeg := func(field string, n int64) error {
		if n < 0 || n > coalition.MaxAmount {
			return bad(field, "must be between 0 and %d, got %d", int64(coalition.MaxAmount), n)
		}
		return nil
	}
	seen := map[string]bool{}
	for i, p := range rs.Partners {
		f := fmt.Sprintf("partners[%d]", i)
		if !known(p.Partner) {
			return bad(f+".partner", "no partner %q in the coalition", p.Partner)
		}
		if seen[p.Partner] {
			return bad(f+".partner", "partner %q has two rule entries", p.Partner)
		}
		seen[p.Partner] = true
		if p.RateBP != nil {
			if err := rate(f+".rate_bp", *p.RateBP); err != nil {
				return err
			}
			if p.PointsPer != nil {
				return bad(f+".points_per", "give rate_bp or points_per, not both")
			}
		}
		if pp := p.PointsPer; pp != nil {
			if pp.Points <= 0 || pp.Points > 1_000_000 {
				return bad(f+".points_per.points", "must be between 1 and 1000000, got %d", pp.Points)
			}
			if pp.MoneyMinor <= 0 || pp.MoneyMinor > coalition.MaxAmount {
				return bad(f+".points_per.money_minor", "must be positive, got %d", pp.MoneyMinor)
			}
		}
		cats := map[string]bool{}
		for j, c := range p.Categories {
			cf := fmt.Sprintf("%s.categories[%d]", f, j)
			if c.Category == "" || len(c.Category) > 64 {
				return bad(cf+".category", "must be 1 to 64 characters")
			}
			if cats[c.Category] {
				return bad(cf+".category", "category %q has two rates", c.Category)
			}
			cats[c.Category] = true
			if err := rate(cf+".rate_bp", c.RateBP); err != nil {
				return err
			}
		}
		for j, s := range p.Steps {
			sf := fmt.Sprintf("%s.steps[%d]", f, j)
			if s.FromMinor <= 0 || s.FromMinor > coalition.MaxAmount {
				return bad(sf+".from_minor", "must be positive, got %d", s.FromMinor)
			}
			if j > 0 && s.FromMinor <= p.Steps[j-1].FromMinor {
				return bad(sf+".from_minor", "steps must rise: %d is not above %d", s.FromMinor, p.Steps[j-1].FromMinor)
			}
			if err := rate(sf+".rate_bp", s.RateBP); err != nil {
				return err
			}
		}
		for _, n := range []struct {
			field string
			v     int64
		}{
			{".min_purchase_minor", p.MinPurchaseMinor}, {".cap_per_purchase", p.CapPerPurchase},
			{".cap_per_member_day", p.CapPerMemberDay}, {".welcome_points", p.WelcomePoints},
		} {
			if err := nonNeg(f+n.field, n.v); err != nil {
				return err
			}
		}
	}
	tierCodes := map[string]bool{}
	if t := rs.Tiers; t != nil {
		if t.PeriodDays < 1 || t.PeriodDays > 3660 {
			return bad("tiers.period_days", "must be between 1 and 3660, got %d", t.PeriodDays)
		}
		for i, l := range t.Levels {
			f := fmt.Sprintf("tiers.levels[%d]", i)
			if !codePattern(l.Code) {
				return bad(f+".code", "must be 1 to 32 lower-case letters, digits or dashes, got %q", l.Code)
			}
			if tierCodes[l.Code] {
				return bad(f+".code", "tier %q is defined twice", l.Code)
			}
			tierCodes[l.Code] = true
			if l.Name == "" || len(l.Name) > 100 {
				return bad(f+".name", "must be 1 to 100 characters")
			}
			if l.ThresholdMinor <= 0 || l.ThresholdMinor > coalition.MaxAmount {
				return bad(f+".threshold_minor", "must be positive, got %d", l.ThresholdMinor)
			}
			if i > 0 && l.ThresholdMinor <= t.Levels[i-1].ThresholdMinor {
				return bad(f+".threshold_minor", "tiers overlap: %d is not above the previous tier's %d", l.ThresholdMinor, t.Levels[i-1].ThresholdMinor)
			}
			if l.MultiplierBP < 10_000 || l.MultiplierBP > maxRateBP {
				return bad(f+".multiplier_bp", "must be between 10000 (× 1) and %d, got %d", maxRateBP, l.MultiplierBP)
			}
			if i > 0 && l.MultiplierBP < t.Levels[i-1].MultiplierBP {
				return bad(f+".multiplier_bp", "a higher tier cannot earn less than a lower one")
			}
		}
	}
	promos := map[string]bool{}
	for i, p := range rs.Promotions {
		f := fmt.Sprintf("promotions[%d]", i)
		if !codePattern(p.Code) {
			return bad(f+".code", "must be 1 to 32 lower-case letters, digits or dashes, got %q", p.Code)
		}
		if promos[p.Code] {
			return bad(f+".code", "promotion %q is defined twice", p.Code)
		}
		promos[p.Code] = true
		if p.Name == "" || len(p.Name) > 100 {
			return bad(f+".name", "must be 1 to 100 characters")
		}
		if p.Starts.IsZero() || p.Ends.IsZero() {
			return bad(f+".ends", "a promotion needs both starts and ends")
		}
		if !p.Ends.After(p.Starts) {
			return bad(f+".ends", "the promotion ends (%s) before it starts (%s)", p.Ends.Format(time.RFC3339), p.Starts.Format(time.RFC3339))
		}
		days := map[string]bool{}
		for j, d := range p.Weekdays {
			if _, ok := weekdays[d]; !ok || days[d] {
				return bad(fmt.Sprintf("%s.weekdays[%d]", f, j), "must be one of mon tue wed thu fri sat sun, each once; got %q", d)
			}
			days[d] = true
		}
		if p.FromHour != 0 || p.ToHour != 0 {
			if p.FromHour < 0 || p.ToHour > 24 || p.FromHour >= p.ToHour {
				return bad(f+".to_hour", "hours must satisfy 0 <= from_hour < to_hour <= 24, got %d-%d", p.FromHour, p.ToHour)
			}
		}
		for j, code := range p.Partners {
			if !known(code) {
				return bad(fmt.Sprintf("%s.partners[%d]", f, j), "no partner %q in the coalition", code)
			}
		}
		for j, c := range p.Categories {
			if c == "" || len(c) > 64 {
				return bad(fmt.Sprintf("%s.categories[%d]", f, j), "must be 1 to 64 characters")
			}
		}
		for j, code := range p.Tiers {
			if !tierCodes[code] {
				return bad(fmt.Sprintf("%s.tiers[%d]", f, j), "no tier %q in this rule set", code)
			}
		}
		if err := nonNeg(f+".min_purchase_minor", p.MinPurchaseMinor); err != nil {
			return err
		}
		if err := rate(f+".multiplier_bp", p.MultiplierBP); err != nil {
			return err
		}
		if p.BonusPoints < 0 || p.BonusPoints > 10_000_000 {
			return bad(f+".bonus_points", "must be between 0 and 10000000, got %d", p.BonusPoints)
		}
		if p.MultiplierBP == 0 && p.BonusPoints == 0 {
			return bad(f+".multiplier_bp", "a promotion gives a multiplier, a bonus, or both")
		}
		switch {
		case p.FundedBy == FundedByPartner, p.FundedBy == FundedByOperator, known(p.FundedBy):
		default:
			return bad(f+".funded_by", `must be "partner", "operator" or a partner's code, got %q`, p.FundedBy)
		}
		if p.UnlockAt != "" {
			if !known(p.UnlockAt) {
				return bad(f+".unlock_at", "no partner %q in the coalition", p.UnlockAt)
			}
			if len(p.Partners) == 0 || slices.Contains(p.Partners, p.UnlockAt) {
				return bad(f+".unlock_at", "a joint promotion is earned at partners other than the one that unlocks it; list them in partners")
			}
		}
		if err := nonNeg(f+".budget_points", p.BudgetPoints); err != nil {
			return err
		}
	}
	if r := rs.Referral; r != nil {
		for _, n := range []struct {
			field string
			v     int64
		}{
			{"referral.referrer_points", r.ReferrerPoints}, {"referral.new_member_points", r.NewMemberPoints},
			{"referral.min_purchase_minor", r.MinPurchaseMinor},
		} {
			if err := nonNeg(n.field, n.v); err != nil {
				return err
			}
		}
	}
	return nil
}

func codePattern(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

// For returns the partner's rules, or nil.
func (rs RuleSet) For(partner string) *PartnerRules {
	for i := range rs.Partners {
		if rs.Partners[i].Partner == partner {
			return &rs.Partners[i]
		}
	}
	return nil
}

// VersionName is how accruals name the version they used.
func VersionName(v int64) string { return fmt.Sprintf("rules/v%d", v) }
