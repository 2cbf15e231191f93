package rules

import "testing"

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
