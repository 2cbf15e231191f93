package analytics_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/settlement/analytics"
)

// promotions of the generated workload (newWorld): the cafe's own double
// points on large checks; the operator's bonus on large checks at the
// cinema and the fuel station (a result at each till); the shop's bonus
// at the fuel station, on a budget the workload spends in its first weeks;
// and the shop's bonus on the cafe's rare very large checks, which reaches
// too few members for the shop to see how many.
var promotions = []rules.Promotion{
	{Code: "cafe-big", Name: "Double on big checks", Starts: firstDay.AddDate(0, 0, -1), Ends: lastDay.AddDate(0, 0, 2),
		Partners: []string{"cafe"}, MinPurchaseMinor: 25_000, MultiplierBP: 10_000, FundedBy: rules.FundedByPartner},
	{Code: "network-bonus", Name: "Network bonus", Starts: firstDay.AddDate(0, 0, -1), Ends: lastDay.AddDate(0, 0, 2),
		Partners: []string{"cinema", "fuel"}, MinPurchaseMinor: 40_000, BonusPoints: 30, FundedBy: rules.FundedByOperator},
	{Code: "shop-at-fuel", Name: "Shop's bonus at the pump", Starts: firstDay.AddDate(0, 0, -1), Ends: lastDay.AddDate(0, 0, 2),
		Partners: []string{"fuel"}, MinPurchaseMinor: 10_000, BonusPoints: 25, FundedBy: "shop", BudgetPoints: 2_500},
	{Code: "shop-rare", Name: "Shop's bonus at the cafe", Starts: firstDay.AddDate(0, 0, -1), Ends: lastDay.AddDate(0, 0, 2),
		Partners: []string{"cafe"}, MinPurchaseMinor: 49_000, BonusPoints: 10, FundedBy: "shop"},
}

// budgeted: a purchase's breakdown drew on a promotion's budget.
func budgeted(lines []rules.Line) bool {
	return slices.ContainsFunc(lines, func(l rules.Line) bool { return l.Ref == "shop-at-fuel" })
}

// funderID is the partner a breakdown line names as its funder.
func (w *world) funderID(code string) coalition.PartnerID {
	if code == rules.FundedByOperator {
		return coalition.PartnerID(uuid.MustParse("00000000-0000-0000-0000-000000000001"))
	}
	return w.id[code]
}

// expectPromotions computes a scope's promotion results over from..to from
// the record: the breakdowns the ledger answered each purchase with, and
// the purchases themselves, as the package documents them (partner zero:
// the network). A partner's view is suppressed as documented too.
func (w *world) expectPromotions(partner coalition.PartnerID, from, to time.Time) []analytics.PromotionResult {
	net := partner == coalition.PartnerID{}
	type key struct {
		ref          string
		till, funder coalition.PartnerID
	}
	type memberDay struct {
		member coalition.MemberID
		day    time.Time
	}
	type tillDay struct {
		till coalition.PartnerID
		day  time.Time
	}
	// What each member spent at each till each day.
	spent := map[tillDay]map[coalition.MemberID]int64{}
	for _, p := range w.rec.purchases {
		k := tillDay{p.partner, p.day}
		if spent[k] == nil {
			spent[k] = map[coalition.MemberID]int64{}
		}
		spent[k][p.member] += p.minor
	}
	reached := map[key]map[coalition.MemberID]bool{}
	days := map[key]map[memberDay]bool{}
	res := map[key]*analytics.PromotionResult{}
	for _, p := range w.rec.purchases {
		if !in(p.day, from, to) {
			continue
		}
		counted := map[key]bool{}
		for _, l := range p.lines {
			if l.Rule != rules.LinePromotion || l.Points == 0 {
				continue
			}
			k := key{l.Ref, p.partner, w.funderID(l.Funder)}
			if !net && k.till != partner && k.funder != partner {
				continue
			}
			r := res[k]
			if r == nil {
				r = &analytics.PromotionResult{Rule: "promotion", Ref: k.ref, Partner: k.till, Funder: k.funder}
				res[k], reached[k], days[k] = r, map[coalition.MemberID]bool{}, map[memberDay]bool{}
			}
			r.Points += l.Points
			if !counted[k] {
				r.Purchases++
				counted[k] = true
			}
			reached[k][p.member] = true
			days[k][memberDay{p.member, p.day}] = true
		}
	}
	var out []analytics.PromotionResult
	for k, r := range res {
		r.Members = int64(len(reached[k]))
		var pMinor, oMinor int64
		promoDays := map[time.Time]bool{}
		for md := range days[k] {
			r.ParticipantDays++
			pMinor += spent[tillDay{k.till, md.day}][md.member]
			promoDays[md.day] = true
		}
		for d := range promoDays {
			for m, minor := range spent[tillDay{k.till, d}] {
				if !days[k][memberDay{m, d}] {
					r.ComparableDays++
					oMinor += minor
				}
			}
		}
		r.SpendPerParticipantDay = coalition.Money{Minor: floor(pMinor, r.ParticipantDays), Currency: "RUB"}
		r.SpendPerComparableDay = coalition.Money{Minor: floor(oMinor, r.ComparableDays), Currency: "RUB"}
		if k.ref == "shop-at-fuel" {
			// Its purchases are never refunded (refundPurchase), so its
			// budget has granted what its lines gave, all days counted.
			r.HasBudget = true
			for _, p := range w.rec.purchases {
				for _, l := range p.lines {
					if l.Ref == k.ref {
						r.BudgetUsed += l.Points
					}
				}
			}
		}
		if !net && k.till != partner && r.Members < analytics.MinCell {
			r.Suppressed = true
			r.Members, r.Purchases, r.ParticipantDays, r.ComparableDays = 0, 0, 0, 0
			r.SpendPerParticipantDay.Minor, r.SpendPerComparableDay.Minor = 0, 0
		}
		out = append(out, *r)
	}
	return out
}

// TestPromotionResultsOfTheWorkload: the workload's promotions do what
// the figures need to show something (a budget spent, a result too small
// for its funder to see, participants and others on the same days), and
// the funder sees its promotion at another partner's till, suppressed
// where it reached few.
func TestPromotionResultsOfTheWorkload(t *testing.T) {
	w := newWorld(t)
	for i := range days {
		d := firstDay.AddDate(0, 0, i)
		w.play(d, i == 0)
		w.clear(d)
	}
	w.rollUp(days)

	// The budget ran out: a breakdown says so, and the points given in all
	// are the budget.
	var given coalition.Points
	spentOut := false
	for _, p := range w.rec.purchases {
		for _, l := range p.lines {
			if l.Ref == "shop-at-fuel" {
				given += l.Points
				spentOut = spentOut || l.Points < 25
			}
		}
	}
	if !spentOut || given != 2_500 {
		t.Fatalf("the shop's budget: %d points given, spent out %t; the workload should spend all 2500", given, spentOut)
	}

	whole, err := w.analytics.Network(w.ctx, firstDay, lastDay)
	if err != nil {
		t.Fatal(err)
	}
	w.compare(t, whole.Current, w.expect(coalition.PartnerID{}, firstDay, lastDay))
	var found int
	for _, r := range whole.Current.Promotions {
		if r.Ref == "network-bonus" {
			found++
		}
		if r.Ref == "cafe-big" && (r.ComparableDays == 0 || r.ParticipantDays == 0 || r.SpendPerParticipantDay.Minor <= r.SpendPerComparableDay.Minor) {
			// Its participants bought 25,000 or more; the others at the
			// cafe those days mostly less.
			t.Errorf("cafe-big against the others at the cafe: %+v", r)
		}
		if r.Ref == "shop-at-fuel" && (!r.HasBudget || r.BudgetUsed != 2_500) {
			t.Errorf("shop-at-fuel's budget: %+v", r)
		}
	}
	if found != 2 {
		t.Fatalf("the operator's bonus has %d results, want one at the cinema and one at the fuel station", found)
	}

	// A 20-day period in which the shop's bonus at the cafe reached 1 to 4
	// members: the operator sees how many, the shop does not, the cafe
	// (its till) does.
	from, to := date(2025, 12, 15), date(2026, 1, 3)
	net, err := w.analytics.Network(w.ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	small := func(r analytics.Report) *analytics.PromotionResult {
		for i, p := range r.Current.Promotions {
			if p.Ref == "shop-rare" {
				return &r.Current.Promotions[i]
			}
		}
		return nil
	}
	if r := small(net); r == nil || r.Members < 1 || r.Members >= analytics.MinCell {
		t.Fatalf("the operator sees the shop's bonus at the cafe as %+v; the workload should reach 1 to %d", r, analytics.MinCell-1)
	}
	shop, err := w.analytics.Partner(w.ctx, w.shop.ID, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if r := small(shop); r == nil || !r.Suppressed || r.Members != 0 || r.Purchases != 0 || r.Points != small(net).Points {
		t.Fatalf("the shop sees its bonus at the cafe as %+v", r)
	}
	cafe, err := w.analytics.Partner(w.ctx, w.cafe.ID, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if r := small(cafe); r == nil || r.Suppressed || r.Members != small(net).Members {
		t.Fatalf("the cafe sees the shop's bonus at its till as %+v", r)
	}
	for _, r := range cafe.Current.Promotions {
		if r.Partner != w.cafe.ID && r.Funder != w.cafe.ID {
			t.Errorf("the cafe sees a promotion neither at its till nor its own: %+v", r)
		}
	}
}
