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
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coalition-loyalty/coalition/coalition"
)

// RuleSet is the coalition's rules from EffectiveFrom on.
type RuleSet struct {
	// Version is assigned when the set is stored: 1, 2, ... Zero is the
	// implicit set of a coalition that never stored one (base rates only).
	Version       int64     `json:"version,omitempty"`
	EffectiveFrom time.Time `json:"effective_from,omitzero"`
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
	CapPerPurchase  coalition.Points `json:"cap_per_purchase,omitempty"`
	CapPerMemberDay coalition.Points `json:"cap_per_member_day,omitempty"`
	// WelcomePoints are given, at the partner's cost, to a member it enrolls.
	WelcomePoints coalition.Points `json:"welcome_points,omitempty"`
}

// PointsPer is "Points points per MoneyMinor spent".
type PointsPer struct {
	Points     coalition.Points `json:"points"`
	MoneyMinor int64            `json:"money_minor"`
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

	MultiplierBP int64            `json:"multiplier_bp,omitempty"`
	BonusPoints  coalition.Points `json:"bonus_points,omitempty"`
	// FundedBy is "partner", "operator" or a partner's code: the issuer of
	// the bonus points, who pays for them when they are spent.
	FundedBy string `json:"funded_by"`
	// UnlockAt makes it a joint promotion: the bonus stays locked until the
	// member buys at this partner.
	UnlockAt string `json:"unlock_at,omitempty"`
	// BudgetPoints caps the points the promotion gives in all; zero: none.
	BudgetPoints coalition.Points `json:"budget_points,omitempty"`
}

// Referral pays both members, at the operator's cost, on the referred
// member's first purchase of at least MinPurchaseMinor.
type Referral struct {
	ReferrerPoints   coalition.Points `json:"referrer_points"`
	NewMemberPoints  coalition.Points `json:"new_member_points"`
	MinPurchaseMinor int64            `json:"min_purchase_minor,omitempty"`
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
// field, e.g. "tiers.levels[1].threshold_minor". Sections are checked in
// order: the note, partners, tiers, promotions (which name tiers), and the
// referral bonus.
func (rs RuleSet) Validate(partnerCodes []string) error {
	if len(rs.Note) > 500 {
		return invalid("note", "must be at most 500 characters")
	}
	if err := text("note", rs.Note, true); err != nil {
		return err
	}
	if err := storable("effective_from", rs.EffectiveFrom); err != nil {
		return err
	}
	v := validation{partners: partnerCodes}
	if err := v.partnerRules(rs.Partners); err != nil {
		return err
	}
	if err := v.tiers(rs.Tiers); err != nil {
		return err
	}
	if err := v.promotions(rs.Promotions); err != nil {
		return err
	}
	return checkReferral(rs.Referral)
}

// validation is what the sections of a rule set are checked against.
type validation struct {
	partners  []string        // the coalition's partner codes
	tierCodes map[string]bool // the rule set's tiers, once checked
}

func (v *validation) known(code string) bool { return slices.Contains(v.partners, code) }

func invalid(field, format string, args ...any) error {
	return coalition.Errorf(coalition.Invalid, field, format, args...)
}

// checkRate checks a rate in basis points.
func checkRate(field string, bp int64) error {
	if bp < 0 || bp > maxRateBP {
		return invalid(field, "must be between 0 and %d basis points, got %d", maxRateBP, bp)
	}
	return nil
}

// checkAmount checks an amount of points or money that may be zero. Of
// several checked together (with cmp.Or), the first that fails is reported.
func checkAmount[N ~int64](field string, n N) error {
	if n < 0 || n > coalition.MaxAmount {
		return invalid(field, "must be between 0 and %d, got %d", int64(coalition.MaxAmount), n)
	}
	return nil
}

// partnerRules checks the partners' earn rules: one entry per partner of
// the coalition.
func (v *validation) partnerRules(entries []PartnerRules) error {
	seen := map[string]bool{}
	for i, p := range entries {
		f := fmt.Sprintf("partners[%d]", i)
		if !v.known(p.Partner) {
			return invalid(f+".partner", "no partner %q in the coalition", p.Partner)
		}
		if seen[p.Partner] {
			return invalid(f+".partner", "partner %q has two rule entries", p.Partner)
		}
		seen[p.Partner] = true
		if err := p.validate(f); err != nil {
			return err
		}
	}
	return nil
}

// validate checks one partner's rules, whose path is f.
func (p PartnerRules) validate(f string) error {
	if p.RateBP != nil {
		if err := checkRate(f+".rate_bp", *p.RateBP); err != nil {
			return err
		}
		if p.PointsPer != nil {
			return invalid(f+".points_per", "give rate_bp or points_per, not both")
		}
	}
	if pp := p.PointsPer; pp != nil {
		if pp.Points <= 0 || pp.Points > 1_000_000 {
			return invalid(f+".points_per.points", "must be between 1 and 1000000, got %d", pp.Points)
		}
		if pp.MoneyMinor <= 0 || pp.MoneyMinor > coalition.MaxAmount {
			return invalid(f+".points_per.money_minor", "must be positive, got %d", pp.MoneyMinor)
		}
	}
	if err := checkCategoryRates(f, p.Categories); err != nil {
		return err
	}
	if err := checkSteps(f, p.Steps); err != nil {
		return err
	}
	return cmp.Or(
		checkAmount(f+".min_purchase_minor", p.MinPurchaseMinor), checkAmount(f+".cap_per_purchase", p.CapPerPurchase),
		checkAmount(f+".cap_per_member_day", p.CapPerMemberDay), checkAmount(f+".welcome_points", p.WelcomePoints),
	)
}

// checkCategoryRates checks a partner's rates by category: one per category.
func checkCategoryRates(f string, cs []CategoryRate) error {
	seen := map[string]bool{}
	for j, c := range cs {
		cf := fmt.Sprintf("%s.categories[%d]", f, j)
		if c.Category == "" || len(c.Category) > 64 {
			return invalid(cf+".category", "must be 1 to 64 characters")
		}
		if err := text(cf+".category", c.Category, false); err != nil {
			return err
		}
		if seen[c.Category] {
			return invalid(cf+".category", "category %q has two rates", c.Category)
		}
		seen[c.Category] = true
		if err := checkRate(cf+".rate_bp", c.RateBP); err != nil {
			return err
		}
	}
	return nil
}

// checkSteps checks a partner's rates by purchase amount: the steps rise.
func checkSteps(f string, ss []Step) error {
	for j, s := range ss {
		sf := fmt.Sprintf("%s.steps[%d]", f, j)
		if s.FromMinor <= 0 || s.FromMinor > coalition.MaxAmount {
			return invalid(sf+".from_minor", "must be positive, got %d", s.FromMinor)
		}
		if j > 0 && s.FromMinor <= ss[j-1].FromMinor {
			return invalid(sf+".from_minor", "steps must rise: %d is not above %d", s.FromMinor, ss[j-1].FromMinor)
		}
		if err := checkRate(sf+".rate_bp", s.RateBP); err != nil {
			return err
		}
	}
	return nil
}

// tiers checks the tiers, which rise in threshold and never earn less than
// the tier below, and records their codes for the promotions.
func (v *validation) tiers(t *Tiers) error {
	v.tierCodes = map[string]bool{}
	if t == nil {
		return nil
	}
	if t.PeriodDays < 1 || t.PeriodDays > 3660 {
		return invalid("tiers.period_days", "must be between 1 and 3660, got %d", t.PeriodDays)
	}
	for i, l := range t.Levels {
		f := fmt.Sprintf("tiers.levels[%d]", i)
		if !codePattern(l.Code) {
			return invalid(f+".code", "must be 1 to 32 lower-case letters, digits or dashes, got %q", l.Code)
		}
		if v.tierCodes[l.Code] {
			return invalid(f+".code", "tier %q is defined twice", l.Code)
		}
		v.tierCodes[l.Code] = true
		if l.Name == "" || len(l.Name) > 100 {
			return invalid(f+".name", "must be 1 to 100 characters")
		}
		if err := text(f+".name", l.Name, false); err != nil {
			return err
		}
		if l.ThresholdMinor <= 0 || l.ThresholdMinor > coalition.MaxAmount {
			return invalid(f+".threshold_minor", "must be positive, got %d", l.ThresholdMinor)
		}
		if i > 0 && l.ThresholdMinor <= t.Levels[i-1].ThresholdMinor {
			return invalid(f+".threshold_minor", "tiers overlap: %d is not above the previous tier's %d", l.ThresholdMinor, t.Levels[i-1].ThresholdMinor)
		}
		if l.MultiplierBP < 10_000 || l.MultiplierBP > maxRateBP {
			return invalid(f+".multiplier_bp", "must be between 10000 (× 1) and %d, got %d", maxRateBP, l.MultiplierBP)
		}
		if i > 0 && l.MultiplierBP < t.Levels[i-1].MultiplierBP {
			return invalid(f+".multiplier_bp", "a higher tier cannot earn less than a lower one")
		}
	}
	return nil
}

// promotions checks the promotions: each code once.
func (v *validation) promotions(ps []Promotion) error {
	seen := map[string]bool{}
	for i, p := range ps {
		f := fmt.Sprintf("promotions[%d]", i)
		if !codePattern(p.Code) {
			return invalid(f+".code", "must be 1 to 32 lower-case letters, digits or dashes, got %q", p.Code)
		}
		if seen[p.Code] {
			return invalid(f+".code", "promotion %q is defined twice", p.Code)
		}
		seen[p.Code] = true
		if err := v.promotion(f, p); err != nil {
			return err
		}
	}
	return nil
}

// promotion checks one promotion, whose path is f: its name, season,
// scope, what it gives, and who funds and unlocks it.
func (v *validation) promotion(f string, p Promotion) error {
	if p.Name == "" || len(p.Name) > 100 {
		return invalid(f+".name", "must be 1 to 100 characters")
	}
	if err := text(f+".name", p.Name, false); err != nil {
		return err
	}
	if err := checkSeason(f, p); err != nil {
		return err
	}
	if err := v.scope(f, p); err != nil {
		return err
	}
	if err := checkReward(f, p); err != nil {
		return err
	}
	return v.funding(f, p)
}

// checkSeason checks when a promotion runs: its dates, days and hours.
func checkSeason(f string, p Promotion) error {
	if p.Starts.IsZero() || p.Ends.IsZero() {
		return invalid(f+".ends", "a promotion needs both starts and ends")
	}
	if err := storable(f+".starts", p.Starts); err != nil {
		return err
	}
	if err := storable(f+".ends", p.Ends); err != nil {
		return err
	}
	if !p.Ends.After(p.Starts) {
		return invalid(f+".ends", "the promotion ends (%s) before it starts (%s)", p.Ends.Format(time.RFC3339), p.Starts.Format(time.RFC3339))
	}
	days := map[string]bool{}
	for j, d := range p.Weekdays {
		if _, ok := weekdays[d]; !ok || days[d] {
			return invalid(fmt.Sprintf("%s.weekdays[%d]", f, j), "must be one of mon tue wed thu fri sat sun, each once; got %q", d)
		}
		days[d] = true
	}
	if p.FromHour != 0 || p.ToHour != 0 {
		if p.FromHour < 0 || p.ToHour > 24 || p.FromHour >= p.ToHour {
			return invalid(f+".to_hour", "hours must satisfy 0 <= from_hour < to_hour <= 24, got %d-%d", p.FromHour, p.ToHour)
		}
	}
	return nil
}

// scope checks which purchases a promotion applies to: partners of the
// coalition, categories, tiers of the rule set, and a minimum amount.
func (v *validation) scope(f string, p Promotion) error {
	for j, code := range p.Partners {
		if !v.known(code) {
			return invalid(fmt.Sprintf("%s.partners[%d]", f, j), "no partner %q in the coalition", code)
		}
	}
	for j, c := range p.Categories {
		if c == "" || len(c) > 64 {
			return invalid(fmt.Sprintf("%s.categories[%d]", f, j), "must be 1 to 64 characters")
		}
		if err := text(fmt.Sprintf("%s.categories[%d]", f, j), c, false); err != nil {
			return err
		}
	}
	for j, code := range p.Tiers {
		if !v.tierCodes[code] {
			return invalid(fmt.Sprintf("%s.tiers[%d]", f, j), "no tier %q in this rule set", code)
		}
	}
	return checkAmount(f+".min_purchase_minor", p.MinPurchaseMinor)
}

// checkReward checks what a promotion gives: a multiplier, a bonus, or both.
func checkReward(f string, p Promotion) error {
	if err := checkRate(f+".multiplier_bp", p.MultiplierBP); err != nil {
		return err
	}
	if p.BonusPoints < 0 || p.BonusPoints > 10_000_000 {
		return invalid(f+".bonus_points", "must be between 0 and 10000000, got %d", p.BonusPoints)
	}
	if p.MultiplierBP == 0 && p.BonusPoints == 0 {
		return invalid(f+".multiplier_bp", "a promotion gives a multiplier, a bonus, or both")
	}
	return nil
}

// funding checks who pays for a promotion's points, who unlocks a joint
// promotion, and its budget.
func (v *validation) funding(f string, p Promotion) error {
	switch {
	case p.FundedBy == FundedByPartner, p.FundedBy == FundedByOperator, v.known(p.FundedBy):
	default:
		return invalid(f+".funded_by", `must be "partner", "operator" or a partner's code, got %q`, p.FundedBy)
	}
	if p.UnlockAt != "" {
		if !v.known(p.UnlockAt) {
			return invalid(f+".unlock_at", "no partner %q in the coalition", p.UnlockAt)
		}
		if len(p.Partners) == 0 || slices.Contains(p.Partners, p.UnlockAt) {
			return invalid(f+".unlock_at", "a joint promotion is earned at partners other than the one that unlocks it; list them in partners")
		}
	}
	return checkAmount(f+".budget_points", p.BudgetPoints)
}

// checkReferral checks the referral bonus, if any.
func checkReferral(r *Referral) error {
	if r == nil {
		return nil
	}
	return cmp.Or(
		checkAmount("referral.referrer_points", r.ReferrerPoints), checkAmount("referral.new_member_points", r.NewMemberPoints),
		checkAmount("referral.min_purchase_minor", r.MinPurchaseMinor),
	)
}

// storable refuses a time that a stored rule set could not hold: Encode
// writes RFC 3339, whose years run from 0000 to 9999, and a timestamp of
// the API starts at year 1. Both the time's own year and its UTC year
// count, since Encode writes the time in its own zone.
func storable(field string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	for _, y := range []int{t.Year(), t.UTC().Year()} {
		if y < 1 || y > 9999 {
			return invalid(field, "must be between the years 1 and 9999, got %s", t.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// text refuses what people could not read or PostgreSQL could not store:
// bytes that are not UTF-8, NUL, and, in names and categories, any other
// control character (lines are allowed in a note).
func text(field, s string, lines bool) error {
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	for _, r := range s {
		if r == 0 || (unicode.IsControl(r) && !(lines && (r == '\n' || r == '\r' || r == '\t'))) {
			return invalid(field, "must not contain control characters such as %U", r)
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

// BaseRateBP is the cashback rate partner code earns at in rs, where rs
// gives it one (RateBP), else onboarded: the rate the partner was
// registered with. Pages and listings show this rate, so that they agree
// with what accruals earn after the rules changed a partner's rate.
func (rs RuleSet) BaseRateBP(code string, onboarded int64) int64 {
	for _, p := range rs.Partners {
		if p.Partner == code && p.RateBP != nil {
			return *p.RateBP
		}
	}
	return onboarded
}

// OffersFor are the promotions open to a member of tier at t: in season and
// for that tier (or every tier). Their days, hours, partners and categories
// still decide which purchases earn them; a member reads those as the
// offer's terms.
func (rs RuleSet) OffersFor(tier string, t time.Time) []Promotion {
	var out []Promotion
	for _, pm := range rs.Promotions {
		if t.Before(pm.Starts) || !t.Before(pm.Ends) {
			continue
		}
		if len(pm.Tiers) > 0 && !slices.Contains(pm.Tiers, tier) {
			continue
		}
		out = append(out, pm)
	}
	return out
}
