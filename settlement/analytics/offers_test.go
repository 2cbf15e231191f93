package analytics_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/coalition/segments"
	"github.com/coalition-loyalty/coalition/settlement/analytics"
)

// buyWith is a purchase whose till presents coupon (none if empty),
// recorded as buy records its purchases.
func (w *world) buyWith(m coalition.MemberID, p partners.Partner, d time.Time, coupon string) purchase {
	w.t.Helper()
	w.tick()
	minor := 1_000 + w.rng.Int64N(49_000)
	r, err := w.ledger.Accrue(w.ctx, p.ID, ledger.Accrual{IdempotencyKey: w.key(), Member: ledger.MemberRef{ID: m}, OrderID: w.key(),
		Purchase: coalition.Money{Minor: minor, Currency: "RUB"}, CouponCode: coupon})
	if err != nil {
		w.t.Fatal(err)
	}
	pu := purchase{member: m, partner: p.ID, day: d, minor: minor, tx: r.Transaction.ID, left: minor, lines: r.Earning.Lines}
	w.rec.purchases = append(w.rec.purchases, pu)
	return pu
}

// isOffer says a breakdown line is a personal offer's or a coupon's.
func isOffer(l rules.Line) bool { return l.Rule == rules.LineOffer || l.Rule == rules.LineCoupon }

// expectOffers computes a scope's results of offers and coupons over
// from..to from the breakdowns the ledger answered with and the purchases
// themselves, as package analytics documents them (partner zero: the
// network), with each offer's budget used given by budget.
func (w *world) expectOffers(partner coalition.PartnerID, from, to time.Time, budget map[string]coalition.Points) []analytics.PromotionResult {
	net := partner == coalition.PartnerID{}
	type key struct {
		rule, ref    string
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
	spent := map[tillDay]map[coalition.MemberID]int64{}
	for _, p := range w.rec.purchases {
		k := tillDay{p.partner, p.day}
		if spent[k] == nil {
			spent[k] = map[coalition.MemberID]int64{}
		}
		spent[k][p.member] += p.minor
	}
	res := map[key]*analytics.PromotionResult{}
	reached := map[key]map[coalition.MemberID]bool{}
	days := map[key]map[memberDay]bool{}
	for _, p := range w.rec.purchases {
		if !in(p.day, from, to) {
			continue
		}
		for _, l := range p.lines {
			if !isOffer(l) || l.Points == 0 {
				continue
			}
			k := key{l.Rule, l.Ref, p.partner, w.funderID(l.Funder)}
			if !net && k.till != partner && k.funder != partner {
				continue
			}
			if res[k] == nil {
				res[k] = &analytics.PromotionResult{Rule: l.Rule, Ref: l.Ref, Partner: k.till, Funder: k.funder}
				reached[k], days[k] = map[coalition.MemberID]bool{}, map[memberDay]bool{}
			}
			r := res[k]
			r.Points += l.Points
			r.Purchases++ // an offer gives one line per purchase
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
		r.BudgetUsed, r.HasBudget = budget[k.ref], true
		if !net && k.till != partner && r.Members < analytics.MinCell {
			r.Suppressed = true
			r.Members, r.Purchases, r.ParticipantDays, r.ComparableDays = 0, 0, 0, 0
			r.SpendPerParticipantDay.Minor, r.SpendPerComparableDay.Minor = 0, 0
		}
		out = append(out, *r)
	}
	return out
}

// offerResults are a report's results of offers and coupons, in a
// canonical order.
func (w *world) offerResults(rs []analytics.PromotionResult) []analytics.PromotionResult {
	var out []analytics.PromotionResult
	for _, r := range rs {
		if r.Rule == rules.LineOffer || r.Rule == rules.LineCoupon {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b analytics.PromotionResult) int {
		return cmp.Or(strings.Compare(a.Rule, b.Rule), strings.Compare(a.Ref, b.Ref), strings.Compare(w.code[a.Partner], w.code[b.Partner]),
			strings.Compare(w.named(a.Funder), w.named(b.Funder)))
	})
	return out
}

// TestOffersAndCouponsPostedThroughTheLedgerShowInThePromotionResults:
// three business days of purchases through the real ledger — an
// operator's offer for a coalition segment (funded by the operator, at
// the cafe and the cinema, on a budget the purchases spend out), an
// operator's coupon offer funded by the till, coupons presented at both
// tills, and the cinema's own offer for a list of its customers — are
// cleared and rolled up; each scope's promotion results list every offer
// and coupon line with the members reached, purchases, points, spend
// against the others at the till and budget used (net of a refund that
// gave points back), as an independent count of the breakdowns says.
func TestOffersAndCouponsPostedThroughTheLedgerShowInThePromotionResults(t *testing.T) {
	w := newWorld(t)
	d0 := firstDay
	w.clock.Set(at(d0, 7, 0))
	var cafeMembers, cinemaMembers []coalition.MemberID
	for range 12 {
		cafeMembers = append(cafeMembers, w.enrollByAPI(w.cafe, d0))
	}
	for range 4 {
		cinemaMembers = append(cinemaMembers, w.enrollByAPI(w.cinema, d0))
	}
	// The segment: the cafe's first seven members, born in March.
	segs := segments.New(segments.Config{Tx: w.tx, Clock: w.clock.Now})
	if _, err := segs.Define(w.ctx, segments.Coalition, "march", "Born in March", segments.Definition{BirthdayMonth: 3}); err != nil {
		t.Fatal(err)
	}
	inSegment := map[coalition.MemberID]bool{}
	for _, m := range cafeMembers[:7] {
		if err := segs.SetBirthday(w.ctx, m, segments.Birthday{Month: 3, Day: 8}); err != nil {
			t.Fatal(err)
		}
		inSegment[m] = true
	}
	if err := segs.Compute(w.ctx, d0.AddDate(0, 0, -1)); err != nil {
		t.Fatal(err)
	}
	store := offers.New(offers.Config{Tx: w.tx, Clock: w.clock.Now})
	operator := offers.Actor{Operator: true}
	starts, ends := at(d0, 0, 0), at(d0.AddDate(0, 0, 3), 0, 0)
	const segBudget = 150
	for _, o := range []struct {
		by offers.Actor
		o  offers.Offer
	}{
		{operator, offers.Offer{Code: "MARCH", Name: "Birthday month", Segment: "march", MultiplierBP: 10_000, Partners: []string{"cafe", "cinema"},
			FundedBy: rules.FundedByOperator, BudgetPoints: segBudget}},
		{operator, offers.Offer{Code: "TILL-COUPON", Name: "Coupon", BonusPoints: 20, Partners: []string{"cafe", "cinema"},
			FundedBy: rules.FundedByPartner, BudgetPoints: 10_000}},
		{offers.Actor{Partner: w.cinema.ID}, offers.Offer{Code: "CINEMA-REGULARS", Name: "Regulars", BonusPoints: 15, BudgetPoints: 1_000,
			Members: w.cards(cinemaMembers[:3])}},
	} {
		o.o.Starts, o.o.Ends = starts, ends
		if _, err := store.Create(w.ctx, o.by, o.o); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := store.IssueCoupons(w.ctx, operator, offers.Issue{Offer: "TILL-COUPON", RequestKey: "print", Count: 8, MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	coupons := make([]string, len(cs))
	for i, c := range cs {
		coupons[i] = c.Code
	}
	cafe, cinema := w.cafe, w.cinema
	// Who presents a coupon where, on which day.
	type use struct {
		day    int
		member coalition.MemberID
		at     coalition.PartnerID
	}
	uses := []use{{0, cafeMembers[9], cafe.ID}, {0, cafeMembers[10], cafe.ID}, {1, cafeMembers[3], cinema.ID}, {2, cafeMembers[0], cafe.ID},
		{2, cinemaMembers[3], cafe.ID}, {2, cinemaMembers[0], cinema.ID}}
	var refunded purchase
	for i := range 3 {
		d := d0.AddDate(0, 0, i)
		w.clock.Set(at(d, 9, 0))
		presents := func(m coalition.MemberID, p partners.Partner) string {
			for _, u := range uses {
				if u.day == i && u.member == m && u.at == p.ID {
					c := coupons[0]
					coupons = coupons[1:]
					return c
				}
			}
			return ""
		}
		for _, m := range cafeMembers {
			pu := w.buyWith(m, cafe, d, presents(m, cafe))
			if i == 0 && m == cafeMembers[1] {
				refunded = pu
			}
		}
		for _, m := range cinemaMembers {
			w.buyWith(m, cinema, d, presents(m, cinema))
			w.buyWith(m, cafe, d, presents(m, cafe))
		}
		w.buyWith(cafeMembers[3], cinema, d, presents(cafeMembers[3], cinema))
		if i == 2 {
			// The day's last act: a refund of a purchase the segment's
			// offer gave points on gives them back to its budget.
			w.tick()
			if _, err := w.ledger.Refund(w.ctx, cafe.ID, ledger.Refund{IdempotencyKey: w.key(), TransactionID: refunded.tx,
				Purchase: &coalition.Money{Minor: refunded.minor, Currency: "RUB"}}); err != nil {
				t.Fatal(err)
			}
		}
		w.clear(d)
	}
	w.rollUp(3)

	// The record: the offers applied where they should, and the segment's
	// budget was spent out.
	budget := map[string]coalition.Points{}
	var backToBudget coalition.Points
	for _, p := range w.rec.purchases {
		for _, l := range p.lines {
			if !isOffer(l) {
				continue
			}
			budget[l.Ref] += l.Points
			if l.Ref == "MARCH" && !inSegment[p.member] {
				t.Fatalf("the segment's offer gave %d points to a member outside it", l.Points)
			}
			if p.tx == refunded.tx && l.Ref == "MARCH" {
				backToBudget = l.Points
			}
		}
	}
	if budget["MARCH"] != segBudget || backToBudget == 0 {
		t.Fatalf("the segment's offer gave %d points of its %d, %d of them refunded; the workload should spend it all, refunding some",
			budget["MARCH"], segBudget, backToBudget)
	}
	budget["MARCH"] -= backToBudget

	for _, scope := range []coalition.PartnerID{{}, w.cafe.ID, w.cinema.ID} {
		var r analytics.Report
		if scope == (coalition.PartnerID{}) {
			r, err = w.analytics.Network(w.ctx, d0, d0.AddDate(0, 0, 2))
		} else {
			r, err = w.analytics.Partner(w.ctx, scope, d0, d0.AddDate(0, 0, 2))
		}
		if err != nil {
			t.Fatal(err)
		}
		got, want := w.offerResults(r.Current.Promotions), w.offerResults(w.expectOffers(scope, d0, d0.AddDate(0, 0, 2), budget))
		if len(want) == 0 {
			t.Fatalf("%s: no offers expected; the workload is wrong", w.named(scope))
		}
		if w.named(got) != w.named(want) {
			t.Errorf("%s's offer results:\n got %s\nwant %s", w.named(scope), w.named(got), w.named(want))
		}
	}
	// The network sees each rule at each till: the segment's offer at both
	// tills, coupons at both, the cinema's offer at its own.
	net, err := w.analytics.Network(w.ctx, d0, d0.AddDate(0, 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range w.offerResults(net.Current.Promotions) {
		lines = append(lines, r.Rule+" "+r.Ref+" at "+w.code[r.Partner]+" by "+w.named(r.Funder))
	}
	if want := []string{"coupon TILL-COUPON at cafe by cafe", "coupon TILL-COUPON at cinema by cinema",
		"offer CINEMA-REGULARS at cinema by cinema", "offer MARCH at cafe by operator", "offer MARCH at cinema by operator"}; !slices.Equal(lines, want) {
		t.Fatalf("the network's offer results: %q, want %q", lines, want)
	}
	// The offers' own list says the same budget used.
	list, err := store.List(w.ctx, operator)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list {
		if o.BudgetUsed != budget[o.Code] {
			t.Errorf("offer %s lists %d points of budget used, want %d", o.Code, o.BudgetUsed, budget[o.Code])
		}
	}
}

// cards are the members' card numbers.
func (w *world) cards(ms []coalition.MemberID) []string {
	var out []string
	for _, m := range ms {
		c, err := w.ledger.MemberCard(w.ctx, m)
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, c.CardNumber)
	}
	return out
}
