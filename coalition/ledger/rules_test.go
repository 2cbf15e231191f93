package ledger_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

func ptr[T any](v T) *T { return &v }

// putRules stores a rule set that takes effect now.
func (f *fixture) putRules(rs rules.RuleSet) rules.RuleSet {
	f.t.Helper()
	stored, err := f.rules.Put(f.ctx, rs)
	if err != nil {
		f.t.Fatal(err)
	}
	return stored
}

func (f *fixture) accrueIn(at partners.Partner, m ledger.Member, minor int64, category string) ledger.AccrueResult {
	f.t.Helper()
	r, err := f.l.Accrue(f.ctx, at.ID, ledger.Accrual{IdempotencyKey: f.key(), Member: ledger.MemberRef{ID: m.ID},
		Purchase: rub(minor), OrderID: f.key(), Category: category})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// lines renders a breakdown as "rule/ref:points@funder".
func lines(e ledger.AccrueResult) string {
	var out []string
	for _, l := range e.Earning.Lines {
		s := l.Rule
		if l.Ref != "" {
			s += "/" + l.Ref
		}
		out = append(out, s+":"+fmt.Sprint(l.Points)+"@"+l.Funder)
	}
	return strings.Join(out, " ")
}

// issuers sums a member's lots by issuer code ("locked:" for locked ones).
func (f *fixture) issuers(m ledger.Member) map[string]int64 {
	f.t.Helper()
	rows, err := f.pool.Query(f.ctx, `
		SELECT CASE WHEN l.unlock_partner_id IS NULL THEN p.code ELSE 'locked:' || p.code END, SUM(l.remaining)
		FROM lots l JOIN partners p ON p.id = l.issuer_id
		WHERE l.member_id = $1 GROUP BY 1`, m.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var code string
		var n int64
		if err := rows.Scan(&code, &n); err != nil {
			f.t.Fatal(err)
		}
		if n != 0 {
			out[code] = n
		}
	}
	return out
}

func wantMap(t *testing.T, what string, got, want map[string]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
	}
}

// A replica keeps the rule sets it has parsed, and its batches read only
// which version is in force (with the body of a version it has not seen):
// a version another replica puts applies to this replica's next accrual,
// and to those after it, whose reads skip the body.
func TestARuleSetPutByAnotherReplicaAppliesToTheNextAccrual(t *testing.T) {
	f := newFixture(t)
	f.putRules(rules.RuleSet{Partners: []rules.PartnerRules{{Partner: "cafe", RateBP: ptr[int64](1_000)}}})
	m := f.enroll(f.cafe)
	if got := lines(f.accrueIn(f.cafe, m, 100_000, "")); got != "base:100@cafe" {
		t.Fatalf("under the first version: %s, want base:100@cafe", got)
	}
	other := rules.NewStore(rules.StoreConfig{Tx: f.runner, Clock: f.clock.Now})
	f.clock.Advance(time.Minute)
	if _, err := other.Put(f.ctx, rules.RuleSet{Partners: []rules.PartnerRules{{Partner: "cafe", RateBP: ptr[int64](2_000)}}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if got := lines(f.accrueIn(f.cafe, m, 100_000, "")); got != "base:200@cafe" {
			t.Fatalf("accrual %d after the other replica's version: %s, want base:200@cafe", i+1, got)
		}
	}
	f.checkClean()
}

// The clock of the fixture starts on Tuesday 2026-03-10 at 12:00 in Moscow.
func TestRulesOnTheLedger(t *testing.T) {
	t.Run("earn rules, caps and the breakdown recorded with the version", func(t *testing.T) {
		f := newFixture(t)
		v := f.putRules(rules.RuleSet{Partners: []rules.PartnerRules{{
			Partner: "cafe", Categories: []rules.CategoryRate{{Category: "coffee", RateBP: 1_000}},
			MinPurchaseMinor: 10_000, CapPerMemberDay: 150,
		}}})
		m := f.enroll(f.cafe)
		cases := []struct {
			minor    int64
			category string
			want     string
		}{
			{100_000, "coffee", "base:100@cafe"},
			{9_999, "", "base:0@cafe"},
			{200_000, "", "base:50@cafe"}, // 100 of 150 for today already: 50 left of the 100 earned
			{100_000, "", "base:0@cafe"},
		}
		for _, c := range cases {
			r := f.accrueIn(f.cafe, m, c.minor, c.category)
			if got := lines(r); got != c.want {
				t.Fatalf("%d %q: %s, want %s", c.minor, c.category, got, c.want)
			}
			var version string
			var stored int
			if err := f.pool.QueryRow(f.ctx, `
				SELECT t.rule_version, (SELECT count(*) FROM earn_lines WHERE transaction_id = t.id)
				FROM transactions t WHERE id = $1`, r.Transaction.ID).Scan(&version, &stored); err != nil {
				t.Fatal(err)
			}
			if version != rules.VersionName(v.Version) || stored != len(r.Earning.Lines) {
				t.Fatalf("stored version %q with %d lines; want %q with %d", version, stored, rules.VersionName(v.Version), len(r.Earning.Lines))
			}
		}
		// The next day in Moscow (21:00 UTC) the daily cap starts again.
		f.clock.Set(time.Date(2026, 3, 10, 21, 0, 0, 0, time.UTC))
		if got := lines(f.accrueIn(f.cafe, m, 100_000, "")); got != "base:50@cafe" {
			t.Fatalf("next day: %s", got)
		}
		f.wantBalance(m, 200, 0, 0, 0)
		f.checkClean()
	})

	t.Run("a new version applies from its timestamp; the past cannot be rewritten", func(t *testing.T) {
		f := newFixture(t)
		f.putRules(rules.RuleSet{Partners: []rules.PartnerRules{{Partner: "cafe", RateBP: ptr[int64](500)}}})
		v2 := f.putRules(rules.RuleSet{EffectiveFrom: start.Add(time.Hour), Partners: []rules.PartnerRules{{Partner: "cafe", RateBP: ptr[int64](1_000)}}})
		m := f.enroll(f.cafe)
		before := f.accrue(f.cafe, m, 100_000)
		f.clock.Set(start.Add(time.Hour))
		after := f.accrue(f.cafe, m, 100_000)
		if before.Earning.Total != 50 || before.Earning.Version != "rules/v1" || after.Earning.Total != 100 || after.Earning.Version != rules.VersionName(v2.Version) {
			t.Fatalf("before %+v, after %+v", before.Earning, after.Earning)
		}
		// A retried request stores nothing new.
		if again := f.putRules(rules.RuleSet{EffectiveFrom: start.Add(time.Hour), Partners: []rules.PartnerRules{{Partner: "cafe", RateBP: ptr[int64](1_000)}}}); again.Version != v2.Version {
			t.Fatalf("the same rules again made version %d", again.Version)
		}
		_, err := f.rules.Put(f.ctx, rules.RuleSet{EffectiveFrom: start})
		wantError(t, err, coalition.Invalid, "effective_from")
		_, err = f.rules.Put(f.ctx, rules.RuleSet{Tiers: &rules.Tiers{PeriodDays: 30, Levels: []rules.Tier{
			{Code: "silver", Name: "Silver", ThresholdMinor: 100, MultiplierBP: 11_000},
			{Code: "gold", Name: "Gold", ThresholdMinor: 100, MultiplierBP: 12_000},
		}}})
		wantError(t, err, coalition.Invalid, "tiers.levels[1].threshold_minor")
		if n := f.count("rule_sets"); n != 2 {
			t.Fatalf("%d rule sets stored after two refusals, want 2", n)
		}
	})

	t.Run("tiers: raised at the crossing purchase, lowered by the daily review", func(t *testing.T) {
		f := newFixture(t)
		f.putRules(rules.RuleSet{Tiers: &rules.Tiers{PeriodDays: 30, Levels: []rules.Tier{
			{Code: "silver", Name: "Silver", ThresholdMinor: 300_000, MultiplierBP: 15_000},
			{Code: "gold", Name: "Gold", ThresholdMinor: 1_000_000, MultiplierBP: 20_000},
		}}})
		m := f.enroll(f.cafe)
		ref := ledger.MemberRef{ID: m.ID}
		if r := f.accrue(f.cinema, m, 200_000); lines(r) != "base:60@cinema" || r.Earning.Upgraded {
			t.Fatalf("first purchase: %s", lines(r))
		}
		s, err := f.l.Standing(f.ctx, ref)
		if err != nil || s.Tier != "" || s.NextTier != "silver" || s.Needed != 100_000 {
			t.Fatalf("standing %+v, %v", s, err)
		}
		f.clock.Advance(time.Hour)
		r := f.accrue(f.cafe, m, 100_000) // crosses 3000.00 at the cafe: silver for this purchase already
		if lines(r) != "base:50@cafe tier/silver:25@cafe" || !r.Earning.Upgraded || r.Earning.Tier != "silver" {
			t.Fatalf("crossing purchase: %s %+v", lines(r), r.Earning)
		}
		if s, _ = f.l.Standing(f.ctx, ref); s.Tier != "silver" || s.NextTier != "gold" || s.Needed != 700_000 {
			t.Fatalf("standing %+v", s)
		}
		// 29 days later the spend still counts; the review keeps silver.
		f.clock.Advance(29 * 24 * time.Hour)
		if n, down, err := f.l.ReviewTiers(f.ctx, 100); err != nil || n != 1 || down != 0 {
			t.Fatalf("review: %d %d %v", n, down, err)
		}
		// On day 31 the first purchase has left the period: 1000.00 is
		// below silver. The tier holds until the review lowers it.
		f.clock.Advance(2 * 24 * time.Hour)
		if r := f.accrue(f.fuel, m, 10_000); lines(r) != "base:1@fuel tier/silver:0@fuel" {
			t.Fatalf("before the review: %s", lines(r))
		}
		if n, down, err := f.l.ReviewTiers(f.ctx, 100); err != nil || n != 1 || down != 1 {
			t.Fatalf("review: %d %d %v", n, down, err)
		}
		if s, _ = f.l.Standing(f.ctx, ref); s.Tier != "" || s.Spend != 10_000 {
			t.Fatalf("after the review: %+v", s)
		}
		f.checkClean()
	})

	t.Run("promotions funded by the operator and by another partner, a joint unlock, a budget", func(t *testing.T) {
		f := newFixture(t)
		f.putRules(rules.RuleSet{Promotions: []rules.Promotion{
			{Code: "spring", Name: "Spring", Starts: start, Ends: start.AddDate(0, 1, 0), MultiplierBP: 10_000,
				Partners: []string{"cafe"}, FundedBy: rules.FundedByOperator},
			{Code: "movie-night", Name: "Movie night", Starts: start, Ends: start.AddDate(0, 1, 0), BonusPoints: 40,
				Partners: []string{"cafe"}, Categories: []string{"dinner"}, FundedBy: "cinema", UnlockAt: "cinema", BudgetPoints: 100},
		}})
		anna, boris, vera := f.enroll(f.cafe), f.enroll(f.cafe), f.enroll(f.cafe)
		r := f.accrueIn(f.cafe, anna, 100_000, "dinner")
		if got := lines(r); got != "base:50@cafe promotion/spring:50@operator promotion/movie-night:40@cinema" {
			t.Fatalf("breakdown %s", got)
		}
		if r.Transaction.Points != 50 || len(r.Bonuses) != 2 || r.Earning.Total != 140 {
			t.Fatalf("earn %+v, bonuses %+v", r.Transaction, r.Bonuses)
		}
		wantMap(t, "anna's lots", f.issuers(anna), map[string]int64{"cafe": 50, "operator": 50, "locked:cinema": 40})
		// History explains each transaction by its own lines and version.
		hist, _, err := f.l.History(f.ctx, f.cafe.ID, ledger.MemberRef{ID: anna.ID}, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		explained := map[string]string{}
		for _, tx := range hist {
			var parts []string
			for _, l := range tx.Lines {
				parts = append(parts, l.Rule+"/"+l.Ref+":"+fmt.Sprint(l.Points)+"@"+l.Funder)
			}
			explained[string(tx.Kind)+" "+tx.RuleVersion+" "+fmt.Sprint(tx.Points)] += strings.Join(parts, " ") + ";"
		}
		wantExplained := map[string]string{
			"earn rules/v1 50":  "base/:50@cafe;",
			"bonus rules/v1 50": "promotion/spring:50@operator;",
			"bonus rules/v1 40": "promotion/movie-night:40@cinema;",
		}
		if fmt.Sprint(explained) != fmt.Sprint(wantExplained) {
			t.Fatalf("history explains %v, want %v", explained, wantExplained)
		}
		b := f.balance(anna)
		if b.Available != 100 || b.Locked != 40 {
			t.Fatalf("balance %+v", b)
		}
		// Locked points cannot be spent...
		_, err = f.l.Redeem(f.ctx, f.cafe.ID, ledger.Redemption{IdempotencyKey: f.key(), Member: ledger.MemberRef{ID: anna.ID}, Points: 101, OrderID: "o"})
		wantError(t, err, coalition.FailedPrecondition, "points")
		// ...until a purchase at the cinema unlocks them.
		u := f.accrue(f.cinema, anna, 10_000)
		if u.Unlocked != 40 {
			t.Fatalf("unlocked %d", u.Unlocked)
		}
		if b = f.balance(anna); b.Available != 143 || b.Locked != 0 {
			t.Fatalf("balance after the unlock %+v", b)
		}
		// The budget of 100 gives 40, then 40, then what is left: 20.
		if got := lines(f.accrueIn(f.cafe, boris, 10_000, "dinner")); got != "base:5@cafe promotion/spring:5@operator promotion/movie-night:40@cinema" {
			t.Fatalf("boris: %s", got)
		}
		if r := f.accrueIn(f.cafe, vera, 10_000, "dinner"); r.Earning.Lines[2].Points != 20 || !strings.Contains(r.Earning.Lines[2].Description, "budget") {
			t.Fatalf("vera: %s %q", lines(r), r.Earning.Lines[2].Description)
		}
		if r := f.accrueIn(f.cafe, vera, 10_000, "dinner"); lines(r) != "base:5@cafe promotion/spring:5@operator promotion/movie-night:0@cinema" || len(r.Bonuses) != 1 {
			t.Fatalf("budget spent: %s, bonuses %+v", lines(r), r.Bonuses)
		}
		// A burn at the fuel station takes points by expiry, and the
		// consumptions name each issuer, so clearing charges each funder.
		burn := f.redeem(f.fuel, anna, 143)
		wantMap(t, "burn", f.consumptions(burn.ID), map[string]int64{
			"burn cafe→fuel": 50, "burn operator→fuel": 50, "burn cinema→fuel": 43,
		})
		f.checkClean()
	})

	t.Run("refund of a purchase claws back its bonuses from each funder", func(t *testing.T) {
		f := newFixture(t)
		f.putRules(rules.RuleSet{Promotions: []rules.Promotion{
			{Code: "double", Name: "Double", Starts: start, Ends: start.AddDate(0, 1, 0), MultiplierBP: 10_000, FundedBy: rules.FundedByOperator},
		}})
		m := f.enroll(f.cafe)
		r := f.accrue(f.cafe, m, 100_001) // 50 + 50
		res, err := f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: r.Transaction.ID, Purchase: ptr(rub(50_000))})
		if err != nil {
			t.Fatal(err)
		}
		// Each lot keeps floor(50 × 50001 / 100001) = 25, so 25 + 25 come back.
		if res.Transaction.Points != -50 {
			t.Fatalf("refund %+v", res)
		}
		wantMap(t, "clawed back", f.consumptions(res.Transaction.ID), map[string]int64{
			"earn_refund cafe→cafe": 25, "earn_refund operator→operator": 25,
		})
		f.wantBalance(m, 50, 0, 0, 0)
		// The rest of the purchase: exactly what was earned is gone.
		res, err = f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: r.Transaction.ID, Purchase: ptr(rub(50_001))})
		if err != nil || res.Transaction.Points != -50 {
			t.Fatalf("second refund %+v %v", res, err)
		}
		f.wantBalance(m, 0, 0, 0, 0)
		f.checkClean()
	})

	t.Run("a refund gives its share of a promotion's bonus back to the budget", func(t *testing.T) {
		f := newFixture(t)
		f.putRules(rules.RuleSet{Promotions: []rules.Promotion{
			{Code: "lunch", Name: "Lunch", Starts: start, Ends: start.AddDate(0, 1, 0), BonusPoints: 40,
				Partners: []string{"cafe"}, FundedBy: rules.FundedByOperator, BudgetPoints: 100},
			{Code: "double", Name: "Double", Starts: start, Ends: start.AddDate(0, 1, 0), MultiplierBP: 10_000,
				Partners: []string{"cafe"}, FundedBy: rules.FundedByOperator},
		}})
		granted := func() int64 {
			var n int64
			if err := f.pool.QueryRow(f.ctx, `SELECT COALESCE(SUM(granted), 0) FROM promotion_budgets WHERE promotion = 'lunch'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		refund := func(tx ledger.Transaction, minor int64) {
			t.Helper()
			if _, err := f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: tx.ID, Purchase: ptr(rub(minor))}); err != nil {
				t.Fatal(err)
			}
		}
		anna, boris, vera := f.enroll(f.cafe), f.enroll(f.cafe), f.enroll(f.cafe)
		a := f.accrue(f.cafe, anna, 10_000)
		f.accrue(f.cafe, boris, 10_000)
		if g := granted(); g != 80 {
			t.Fatalf("granted %d after two bonuses of 40", g)
		}
		// Half of Anna's purchase back: her bonus keeps floor(40 × ½) = 20,
		// and the other 20 return to the budget (the unbudgeted multiplier
		// has no budget to return to).
		refund(a.Transaction, 5_000)
		if g := granted(); g != 60 {
			t.Fatalf("granted %d after half a refund, want 60", g)
		}
		if got := lines(f.accrue(f.cafe, vera, 10_000)); got != "base:5@cafe promotion/lunch:40@operator promotion/double:5@operator" {
			t.Fatalf("vera gets the whole bonus again: %s", got)
		}
		if r := f.accrue(f.cafe, vera, 10_000); r.Earning.Lines[1].Points != 0 {
			t.Fatalf("budget spent: %s", lines(r))
		}
		// The rest of Anna's purchase: exactly her 40 went back in all.
		refund(a.Transaction, 5_000)
		if g := granted(); g != 80 {
			t.Fatalf("granted %d after the whole purchase came back, want 80", g)
		}
		if r := f.accrue(f.cafe, boris, 10_000); r.Earning.Lines[1].Points != 20 {
			t.Fatalf("boris: %s", lines(r))
		}
		if g := granted(); g != 100 {
			t.Fatalf("granted %d, want the whole budget", g)
		}
		f.wantBalance(anna, 0, 0, 0, 0)
		f.checkClean()
	})

	t.Run("referral bonus on the first qualifying purchase, welcome bonus on enrollment", func(t *testing.T) {
		f := newFixture(t)
		f.putRules(rules.RuleSet{
			Partners: []rules.PartnerRules{{Partner: "cinema", WelcomePoints: 30}},
			Referral: &rules.Referral{ReferrerPoints: 200, NewMemberPoints: 100, MinPurchaseMinor: 50_000},
		})
		anna := f.enroll(f.cinema)
		if anna.WelcomePoints != 30 {
			t.Fatalf("welcome %d", anna.WelcomePoints)
		}
		f.wantBalance(anna, 30, 0, 0, 0)
		boris, err := f.l.Enroll(f.ctx, f.cafe.ID, ledger.Enrollment{IdempotencyKey: f.key(), ReferralCode: anna.ReferralCode})
		if err != nil {
			t.Fatal(err)
		}
		if r := f.accrue(f.cafe, boris, 49_999); lines(r) != "base:24@cafe" {
			t.Fatalf("small purchase: %s", lines(r))
		}
		r := f.accrue(f.fuel, boris, 50_000)
		if lines(r) != "base:5@fuel referral:100@operator" || r.Earning.ReferrerPoints != 200 || len(r.Bonuses) != 2 {
			t.Fatalf("first qualifying purchase: %s %+v", lines(r), r.Bonuses)
		}
		if r := f.accrue(f.fuel, boris, 50_000); lines(r) != "base:5@fuel" {
			t.Fatalf("second: %s", lines(r))
		}
		// The fuel station's 14-day return window holds the bonuses too.
		f.wantBalance(anna, 30, 200, 0, 0)
		f.clock.Advance(15 * 24 * time.Hour)
		f.wantBalance(anna, 230, 0, 0, 0)
		wantMap(t, "anna's lots", f.issuers(anna), map[string]int64{"cinema": 30, "operator": 200})
		f.checkClean()
	})

	t.Run("a refund of the qualifying purchase takes back the referrer's bonus too", func(t *testing.T) {
		f := newFixture(t)
		f.putRules(rules.RuleSet{Referral: &rules.Referral{ReferrerPoints: 200, NewMemberPoints: 100, MinPurchaseMinor: 50_000}})
		anna := f.enroll(f.cinema)
		boris, err := f.l.Enroll(f.ctx, f.cafe.ID, ledger.Enrollment{IdempotencyKey: f.key(), ReferralCode: anna.ReferralCode})
		if err != nil {
			t.Fatal(err)
		}
		refund := func(tx ledger.Transaction, minor int64) ledger.RefundResult {
			t.Helper()
			res, err := f.l.Refund(f.ctx, f.fuel.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: tx.ID, Purchase: ptr(rub(minor))})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		first := f.accrue(f.fuel, boris, 100_000) // 10 base, 100 referral; anna 200
		second := f.accrue(f.fuel, boris, 100_000)
		f.wantBalance(anna, 0, 200, 0, 0)
		// A quarter back inside the fuel station's return window: each of
		// the three lots keeps floor(points × ¾), and anna's pending bonus
		// simply shrinks, in a transaction of her own that says nothing of
		// boris's purchase.
		res := refund(first.Transaction, 25_000)
		if res.Transaction.Points != -28 || res.Referrer == nil {
			t.Fatalf("refund %+v", res)
		}
		if r := res.Referrer; r.Points != -50 || r.MemberID != anna.ID || r.Amount != nil || r.OrderID != "" || r.Kind != ledger.KindEarnRefund {
			t.Fatalf("referrer's refund %+v", r)
		}
		wantMap(t, "anna's clawback", f.consumptions(res.Referrer.ID), map[string]int64{"earn_refund operator→operator": 50})
		f.wantBalance(anna, 0, 150, 0, 0)
		// A purchase that paid no referral takes nothing from anna.
		if res := refund(second.Transaction, 100_000); res.Referrer != nil {
			t.Fatalf("the second purchase's refund touched the referrer: %+v", res.Referrer)
		}
		// After the window anna spends her 150; the rest of the purchase
		// back, and she owes them to the operator, which funded them.
		f.clock.Advance(15 * 24 * time.Hour)
		f.redeem(f.cafe, anna, 150)
		res = refund(first.Transaction, 75_000)
		if res.Referrer == nil || res.Referrer.Points != -150 {
			t.Fatalf("second refund %+v", res)
		}
		f.wantBalance(anna, -150, 0, 0, 150)
		f.wantBalance(boris, 0, 0, 0, 0)
		// A referral is paid once per referred member, ever: a later
		// qualifying purchase does not pay it again.
		if r := f.accrue(f.fuel, boris, 100_000); lines(r) != "base:10@fuel" || r.Earning.ReferrerPoints != 0 {
			t.Fatalf("after the refunds: %s, referrer %d", lines(r), r.Earning.ReferrerPoints)
		}
		f.checkClean()
	})
}
