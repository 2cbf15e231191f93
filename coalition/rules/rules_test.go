package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
)

var moscow = func() *time.Location {
	l, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		panic(err)
	}
	return l
}()

func ptr[T any](v T) *T { return &v }

// at is a wall-clock time in Moscow (UTC+3, no daylight saving).
func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, moscow)
	if err != nil {
		panic(err)
	}
	return t
}

var partners = []string{"cafe", "cinema", "fuel"}

// demo is a rule set with one of everything.
func demo() RuleSet {
	return RuleSet{
		Version: 3,
		Partners: []PartnerRules{
			{Partner: "cafe", RateBP: ptr[int64](500), Categories: []CategoryRate{{Category: "coffee", RateBP: 1000}},
				MinPurchaseMinor: 10_000, CapPerPurchase: 500, CapPerMemberDay: 800, WelcomePoints: 100},
			{Partner: "cinema", Steps: []Step{{FromMinor: 100_000, RateBP: 400}, {FromMinor: 300_000, RateBP: 600}}},
			{Partner: "fuel", PointsPer: &PointsPer{Points: 1, MoneyMinor: 5_000}},
		},
		Tiers: &Tiers{PeriodDays: 365, Levels: []Tier{
			{Code: "silver", Name: "Silver", ThresholdMinor: 1_000_000, MultiplierBP: 12_500},
			{Code: "gold", Name: "Gold", ThresholdMinor: 5_000_000, MultiplierBP: 15_000},
		}},
		Promotions: []Promotion{
			{Code: "happy-hours", Name: "Happy hours", Starts: at("2028-02-01 00:00"), Ends: at("2028-03-01 00:00"),
				Weekdays: []string{"tue", "wed"}, FromHour: 17, ToHour: 19, Partners: []string{"cafe"},
				MultiplierBP: 10_000, FundedBy: FundedByPartner},
			{Code: "leap-day", Name: "Leap day", Starts: at("2028-02-29 00:00"), Ends: at("2028-03-01 00:00"),
				BonusPoints: 29, FundedBy: FundedByOperator},
			{Code: "dinner-and-a-movie", Name: "Dinner and a movie", Starts: at("2028-01-01 00:00"), Ends: at("2029-01-01 00:00"),
				Partners: []string{"cafe"}, Categories: []string{"dinner"}, BonusPoints: 50, FundedBy: "cinema", UnlockAt: "cinema", BudgetPoints: 10_000},
			{Code: "gold-fuel", Name: "Gold at the pump", Starts: at("2028-01-01 00:00"), Ends: at("2029-01-01 00:00"),
				Partners: []string{"fuel"}, Tiers: []string{"gold"}, MultiplierBP: 5_000, FundedBy: FundedByOperator},
		},
		Referral: &Referral{ReferrerPoints: 200, NewMemberPoints: 100, MinPurchaseMinor: 50_000},
	}
}

type want struct {
	lines    string // "rule:ref:points:funder" joined by spaces
	total    coalition.Points
	tier     string
	upgraded bool
	referrer coalition.Points
}

func summary(e Earning) string {
	var parts []string
	for _, l := range e.Lines {
		s := l.Rule + ":" + l.Ref + ":" + itoa(l.Points) + ":" + l.Funder
		if l.UnlockAt != "" {
			s += ":unlock@" + l.UnlockAt
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func itoa(n coalition.Points) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func TestEvaluate(t *testing.T) {
	// 2028-02-08 is a Tuesday; 2028-02-29 a Tuesday too (leap day).
	cases := []struct {
		name string
		rs   RuleSet
		p    Purchase
		want want
	}{
		{"no rule set: the partner's onboarding rate, rounded down",
			RuleSet{}, Purchase{Partner: "cafe", Amount: 33_333, PartnerRateBP: 300, At: at("2028-01-10 12:00")},
			want{lines: "base::9:cafe", total: 9}},
		{"5% cashback of 1000.00 at 1.00 a point",
			demo(), Purchase{Partner: "cafe", Amount: 100_000, At: at("2028-01-10 12:00")},
			want{lines: "base::50:cafe", total: 50}},
		{"category rate replaces the base rate",
			demo(), Purchase{Partner: "cafe", Amount: 100_000, Category: "coffee", At: at("2028-01-10 12:00")},
			want{lines: "base::100:cafe", total: 100}},
		{"below the minimum purchase earns nothing",
			demo(), Purchase{Partner: "cafe", Amount: 9_999, At: at("2028-01-10 12:00")},
			want{lines: "base::0:cafe", total: 0}},
		{"exactly the minimum purchase earns",
			demo(), Purchase{Partner: "cafe", Amount: 10_000, At: at("2028-01-10 12:00")},
			want{lines: "base::5:cafe", total: 5}},
		{"cap per purchase",
			demo(), Purchase{Partner: "cafe", Amount: 2_000_000, At: at("2028-01-10 12:00")},
			want{lines: "base::500:cafe tier:silver:0:cafe", total: 500, tier: "silver", upgraded: true}},
		{"daily cap: what is left of it today",
			demo(), Purchase{Partner: "cafe", Amount: 1_000_000, EarnedToday: 700, At: at("2028-01-10 12:00")},
			want{lines: "base::100:cafe tier:silver:0:cafe", total: 100, tier: "silver", upgraded: true}},
		{"daily cap reached earns nothing more",
			demo(), Purchase{Partner: "cafe", Amount: 1_000_000, EarnedToday: 900, At: at("2028-01-10 12:00")},
			want{lines: "base::0:cafe tier:silver:0:cafe", total: 0, tier: "silver", upgraded: true}},
		{"below the first step: the partner's own rate",
			demo(), Purchase{Partner: "cinema", Amount: 99_999, PartnerRateBP: 300, At: at("2028-01-10 12:00")},
			want{lines: "base::29:cinema", total: 29}},
		{"first step",
			demo(), Purchase{Partner: "cinema", Amount: 100_000, PartnerRateBP: 300, At: at("2028-01-10 12:00")},
			want{lines: "base::40:cinema", total: 40}},
		{"highest step reached",
			demo(), Purchase{Partner: "cinema", Amount: 300_000, PartnerRateBP: 300, At: at("2028-01-10 12:00")},
			want{lines: "base::180:cinema", total: 180}},
		{"points per money, pro rata and rounded down",
			demo(), Purchase{Partner: "fuel", Amount: 24_999, At: at("2028-01-10 12:00")},
			want{lines: "base::4:fuel", total: 4}},
		{"silver multiplies by 1.25, rounded down",
			demo(), Purchase{Partner: "cafe", Amount: 100_000, Tier: "silver", SpendBefore: 2_000_000, At: at("2028-01-10 12:00")},
			want{lines: "base::50:cafe tier:silver:12:cafe", total: 62, tier: "silver"}},
		{"the purchase that crosses a threshold upgrades and earns at the new tier",
			demo(), Purchase{Partner: "cafe", Amount: 100_000, SpendBefore: 900_000, At: at("2028-01-10 12:00")},
			want{lines: "base::50:cafe tier:silver:12:cafe", total: 62, tier: "silver", upgraded: true}},
		{"one unit short of the threshold: no upgrade",
			demo(), Purchase{Partner: "cafe", Amount: 99_999, SpendBefore: 900_000, At: at("2028-01-10 12:00")},
			want{lines: "base::49:cafe", total: 49}},
		{"a stored tier is kept though the spend fell (only the daily review lowers it)",
			demo(), Purchase{Partner: "cafe", Amount: 100_000, Tier: "gold", SpendBefore: 0, At: at("2028-01-10 12:00")},
			want{lines: "base::50:cafe tier:gold:25:cafe", total: 75, tier: "gold"}},
		{"the cap takes the tier bonus first",
			demo(), Purchase{Partner: "cafe", Amount: 900_000, Tier: "gold", At: at("2028-01-10 12:00")},
			want{lines: "base::450:cafe tier:gold:50:cafe", total: 500, tier: "gold"}},
		{"happy hours: Tuesday 17:00 Moscow time is the first minute",
			demo(), Purchase{Partner: "cafe", Amount: 100_000, At: at("2028-02-08 17:00")},
			want{lines: "base::50:cafe promotion:happy-hours:50:cafe", total: 100}},
		{"happy hours: 16:59 is not yet",
			demo(), Purchase{Partner: "cafe", Amount: 100_000, At: at("2028-02-08 16:59")},
			want{lines: "base::50:cafe", total: 50}},
		{"happy hours: 19:00 is over",
			demo(), Purchase{Partner: "cafe", Amount: 100_000, At: at("2028-02-08 19:00")},
			want{lines: "base::50:cafe", total: 50}},
		{"happy hours are read in the coalition's zone: 14:30 UTC is 17:30 in Moscow",
			demo(), Purchase{Partner: "cafe", Amount: 100_000, At: time.Date(2028, 2, 9, 14, 30, 0, 0, time.UTC)},
			want{lines: "base::50:cafe promotion:happy-hours:50:cafe", total: 100}},
		{"happy hours: Monday is not one of its days",
			demo(), Purchase{Partner: "cafe", Amount: 100_000, At: at("2028-02-07 17:30")},
			want{lines: "base::50:cafe", total: 50}},
		{"happy hours: only at the cafe",
			demo(), Purchase{Partner: "cinema", Amount: 100_000, PartnerRateBP: 300, At: at("2028-02-08 17:30")},
			want{lines: "base::40:cinema", total: 40}},
		{"leap day bonus on 29 February, with happy hours on top, each with its funder",
			demo(), Purchase{Partner: "cafe", Amount: 100_000, At: at("2028-02-29 18:00")},
			want{lines: "base::50:cafe promotion:happy-hours:50:cafe promotion:leap-day:29:operator", total: 129}},
		{"leap day: 23:59 on the 28th in Moscow (20:59 UTC) is not yet",
			demo(), Purchase{Partner: "fuel", Amount: 50_000, At: time.Date(2028, 2, 28, 20, 59, 0, 0, time.UTC)},
			want{lines: "base::10:fuel", total: 10}},
		{"leap day: 00:00 on the 29th in Moscow (21:00 UTC on the 28th) is the day",
			demo(), Purchase{Partner: "fuel", Amount: 50_000, At: time.Date(2028, 2, 28, 21, 0, 0, 0, time.UTC)},
			want{lines: "base::10:fuel promotion:leap-day:29:operator", total: 39}},
		{"leap day: 1 March 00:00 is over",
			demo(), Purchase{Partner: "fuel", Amount: 50_000, At: at("2028-03-01 00:00")},
			want{lines: "base::10:fuel", total: 10}},
		{"joint promotion: dinner at the cafe, locked until a purchase at the cinema, which funds it",
			demo(), Purchase{Partner: "cafe", Amount: 200_000, Category: "dinner", At: at("2028-01-10 20:00")},
			want{lines: "base::100:cafe promotion:dinner-and-a-movie:50:cinema:unlock@cinema", total: 150}},
		{"tier-scoped promotion: gold earns +50% at the pump",
			demo(), Purchase{Partner: "fuel", Amount: 500_000, Tier: "gold", At: at("2028-01-10 12:00")},
			want{lines: "base::100:fuel tier:gold:50:fuel promotion:gold-fuel:50:operator", total: 200, tier: "gold"}},
		{"tier-scoped promotion: not for silver",
			demo(), Purchase{Partner: "fuel", Amount: 500_000, Tier: "silver", At: at("2028-01-10 12:00")},
			want{lines: "base::100:fuel tier:silver:25:fuel", total: 125, tier: "silver"}},
		{"referral: the first qualifying purchase pays both sides",
			demo(), Purchase{Partner: "fuel", Amount: 50_000, ReferralPending: true, At: at("2028-01-10 12:00")},
			want{lines: "base::10:fuel referral::100:operator", total: 110, referrer: 200}},
		{"referral: a smaller purchase does not qualify",
			demo(), Purchase{Partner: "fuel", Amount: 49_999, ReferralPending: true, At: at("2028-01-10 12:00")},
			want{lines: "base::9:fuel", total: 9}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			p.Location, p.PointValueMinor = moscow, 100
			e, err := tc.rs.Evaluate(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(e); got != tc.want.lines {
				t.Errorf("lines %q, want %q", got, tc.want.lines)
			}
			if e.Total != tc.want.total || e.Tier != tc.want.tier || e.Upgraded != tc.want.upgraded || e.ReferrerPoints != tc.want.referrer {
				t.Errorf("total %d tier %q upgraded %v referrer %d; want %+v", e.Total, e.Tier, e.Upgraded, e.ReferrerPoints, tc.want)
			}
			if e.Version != VersionName(tc.rs.Version) {
				t.Errorf("version %q", e.Version)
			}
			for _, l := range e.Lines {
				if l.Description == "" {
					t.Errorf("line %+v has no description for the receipt", l)
				}
			}
		})
	}
}

func TestValidateRefusesWithTheField(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*RuleSet)
		field string
	}{
		{"overlapping tiers", func(rs *RuleSet) { rs.Tiers.Levels[1].ThresholdMinor = 1_000_000 }, "tiers.levels[1].threshold_minor"},
		{"tier multiplier below one", func(rs *RuleSet) { rs.Tiers.Levels[0].MultiplierBP = 9_000 }, "tiers.levels[0].multiplier_bp"},
		{"negative rate", func(rs *RuleSet) { rs.Partners[0].RateBP = ptr[int64](-1) }, "partners[0].rate_bp"},
		{"negative category rate", func(rs *RuleSet) { rs.Partners[0].Categories[0].RateBP = -5 }, "partners[0].categories[0].rate_bp"},
		{"steps that do not rise", func(rs *RuleSet) { rs.Partners[1].Steps[1].FromMinor = 100_000 }, "partners[1].steps[1].from_minor"},
		{"unknown partner", func(rs *RuleSet) { rs.Partners[0].Partner = "bakery" }, "partners[0].partner"},
		{"promotion ending before it starts", func(rs *RuleSet) { rs.Promotions[0].Ends = rs.Promotions[0].Starts.Add(-time.Hour) }, "promotions[0].ends"},
		{"promotion hours backwards", func(rs *RuleSet) { rs.Promotions[0].FromHour = 20 }, "promotions[0].to_hour"},
		{"unknown weekday", func(rs *RuleSet) { rs.Promotions[0].Weekdays = []string{"tuesday"} }, "promotions[0].weekdays[0]"},
		{"promotion giving nothing", func(rs *RuleSet) { rs.Promotions[1].BonusPoints = 0 }, "promotions[1].multiplier_bp"},
		{"unknown funder", func(rs *RuleSet) { rs.Promotions[1].FundedBy = "bank" }, "promotions[1].funded_by"},
		{"promotion for an unknown tier", func(rs *RuleSet) { rs.Promotions[3].Tiers = []string{"platinum"} }, "promotions[3].tiers[0]"},
		{"joint promotion unlocked where it is earned", func(rs *RuleSet) { rs.Promotions[2].UnlockAt = "cafe" }, "promotions[2].unlock_at"},
		{"negative budget", func(rs *RuleSet) { rs.Promotions[2].BudgetPoints = -1 }, "promotions[2].budget_points"},
		{"duplicate promotion", func(rs *RuleSet) { rs.Promotions[1].Code = "happy-hours" }, "promotions[1].code"},
		{"negative referral bonus", func(rs *RuleSet) { rs.Referral.ReferrerPoints = -1 }, "referral.referrer_points"},
		{"rate and points per money at once", func(rs *RuleSet) { rs.Partners[0].PointsPer = &PointsPer{Points: 1, MoneyMinor: 100} }, "partners[0].points_per"},
		// What Encode could not write, or PostgreSQL store, is refused
		// here, not found out by a panic or a database error.
		{"promotion ending after the year 9999", func(rs *RuleSet) { rs.Promotions[0].Ends = time.Date(10_000, 1, 1, 0, 0, 0, 0, time.UTC) }, "promotions[0].ends"},
		{"promotion ending in 9999 here but 10000 in UTC", func(rs *RuleSet) {
			rs.Promotions[0].Ends = time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("", -2*3600))
		}, "promotions[0].ends"},
		{"promotion starting before the year 1", func(rs *RuleSet) { rs.Promotions[0].Starts = time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC) }, "promotions[0].starts"},
		{"effective after the year 9999", func(rs *RuleSet) { rs.EffectiveFrom = time.Date(10_000, 1, 1, 0, 0, 0, 0, time.UTC) }, "effective_from"},
		{"NUL in a promotion's name", func(rs *RuleSet) { rs.Promotions[0].Name = "Happy\x00hours" }, "promotions[0].name"},
		{"NUL in a category", func(rs *RuleSet) { rs.Partners[0].Categories[0].Category = "coffee\x00" }, "partners[0].categories[0].category"},
		{"NUL in a promotion's category", func(rs *RuleSet) { rs.Promotions[2].Categories = []string{"din\x00ner"} }, "promotions[2].categories[0]"},
		{"a tier's name not UTF-8", func(rs *RuleSet) { rs.Tiers.Levels[0].Name = "Silver\xff" }, "tiers.levels[0].name"},
		{"NUL in the note", func(rs *RuleSet) { rs.Note = "spring\x00" }, "note"},
	}
	if err := demo().Validate(partners); err != nil {
		t.Fatalf("the demo rule set is refused: %v", err)
	}
	lined := demo()
	lined.Note = "spring rates:\n\tcafe 5%"
	lined.Promotions[0].Ends = time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)
	if err := lined.Validate(partners); err != nil {
		t.Fatalf("a note of several lines or a promotion to the end of 9999 is refused: %v", err)
	}
	Encode(lined)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := demo()
			tc.edit(&rs)
			err := rs.Validate(partners)
			var ce *coalition.Error
			if !errors.As(err, &ce) || ce.Code != coalition.Invalid || ce.Field != tc.field {
				t.Fatalf("got %v, want Invalid on %s", err, tc.field)
			}
		})
	}
}

func TestDecodeRefusesUnknownFieldsAndRoundTrips(t *testing.T) {
	if _, err := Decode([]byte(`{"partners":[{"partner":"cafe","rate":500}]}`)); err == nil {
		t.Fatal(`a misspelt "rate" was accepted`)
	}
	rs := demo()
	back, err := Decode(Encode(rs))
	if err != nil {
		t.Fatal(err)
	}
	if string(Encode(back)) != string(Encode(rs)) {
		t.Fatal("encoding is not stable")
	}
}

func TestTierFor(t *testing.T) {
	rs := demo()
	for _, tc := range []struct {
		spend   int64
		reached string
		next    string
		needed  int64
	}{
		{0, "", "silver", 1_000_000},
		{999_999, "", "silver", 1},
		{1_000_000, "silver", "gold", 4_000_000},
		{5_000_000, "gold", "", 0},
	} {
		r, n, needed := rs.TierFor(tc.spend)
		code := func(t *Tier) string {
			if t == nil {
				return ""
			}
			return t.Code
		}
		if code(r) != tc.reached || code(n) != tc.next || needed != tc.needed {
			t.Errorf("spend %d: %q, next %q needs %d; want %+v", tc.spend, code(r), code(n), needed, tc)
		}
	}
}
