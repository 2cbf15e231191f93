package rules

import (
	"strings"
	"testing"
	"time"
)

func TestTheBaseRateIsTheRulesRateWhereTheyGiveOne(t *testing.T) {
	seven := int64(700)
	rs := RuleSet{Partners: []PartnerRules{
		{Partner: "cafe", RateBP: &seven},
		{Partner: "cinema", PointsPer: &PointsPer{Points: 1, MoneyMinor: 10_000}},
	}}
	for _, c := range []struct {
		code      string
		onboarded int64
		want      int64
	}{
		{"cafe", 500, 700},   // raised by the rules
		{"cinema", 300, 300}, // rules without a rate: the onboarded one
		{"fuel", 100, 100},   // not in the rules at all
	} {
		if got := rs.BaseRateBP(c.code, c.onboarded); got != c.want {
			t.Errorf("%s onboarded at %d: %d, want %d", c.code, c.onboarded, got, c.want)
		}
	}
	if got := (RuleSet{}).BaseRateBP("cafe", 500); got != 500 {
		t.Errorf("no rules: %d, want the onboarded 500", got)
	}
}

func TestAMemberIsOfferedThePromotionsForTheirTierRunningNow(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 12, d, 0, 0, 0, 0, time.UTC) }
	rs := RuleSet{Promotions: []Promotion{
		{Code: "winter", Starts: day(1), Ends: day(31)},                            // everyone, running
		{Code: "gold-week", Starts: day(1), Ends: day(8), Tiers: []string{"gold"}}, // gold only
		{Code: "silver-week", Starts: day(1), Ends: day(8), Tiers: []string{"silver", "gold"}},
		{Code: "new-year", Starts: day(30), Ends: day(31)},               // not yet
		{Code: "autumn", Starts: day(1).AddDate(0, -2, 0), Ends: day(1)}, // over
	}}
	for _, c := range []struct {
		tier string
		want string
	}{
		{"", "winter"},
		{"silver", "winter silver-week"},
		{"gold", "winter gold-week silver-week"},
	} {
		var got []string
		for _, p := range rs.OffersFor(c.tier, day(5)) {
			got = append(got, p.Code)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("tier %q on 5 December: %v, want %s", c.tier, got, c.want)
		}
	}
}
