package clearing_test

import (
	"slices"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

// A coupon's points settle with the offer's funder like any funded bonus:
// the operator's offer gives 20 points, paid by the cinema, to whoever
// presents its coupon at the café. The member spends the café's 50 and
// the cinema's 20 at the fuel station; the cinema owes the fuel station
// for its 20, pays the fees on them, counts them as issued, and every
// line drills down to the postings.
func TestAnOffersPointsSettleWithItsFunder(t *testing.T) {
	f := newFixture(t)
	store := offers.New(offers.Config{Tx: f.runner, Clock: f.clock.Now})
	now := f.clock.Now()
	operator := offers.Actor{Operator: true}
	if _, err := store.Create(f.ctx, operator, offers.Offer{Code: "MOVIE-NIGHT", Name: "Movie night", BonusPoints: 20,
		Partners: []string{"cafe"}, Starts: now, Ends: now.AddDate(0, 1, 0), BudgetPoints: 1_000, FundedBy: "cinema"}); err != nil {
		t.Fatal(err)
	}
	cs, err := store.IssueCoupons(f.ctx, operator, offers.Issue{Offer: "MOVIE-NIGHT", RequestKey: "print", Count: 1, MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := f.enroll(f.cafe)
	r, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: f.key(), Member: m, OrderID: f.key(),
		Purchase: coalition.Money{Minor: 100_000, Currency: "RUB"}, CouponCode: cs[0].Code})
	if err != nil {
		t.Fatal(err)
	}
	if r.Earning.Total != 70 || len(r.Bonuses) != 1 || r.Bonuses[0].PartnerID != f.cinema.ID {
		t.Fatalf("earned %+v, bonuses %+v: want 50 of the café's and a bonus of 20 of the cinema's", r.Earning, r.Bonuses)
	}
	f.redeem(f.fuel, m, 70)
	f.clock.Set(time.Date(2026, 3, 11, 0, 30, 0, 0, moscow))
	rep := f.clear(day1)

	// 1 point = 1.00; interchange 1 % (the cinema's 1.5 %) and 0.5 % on
	// issue, of the money value of each issuer's points.
	wantFlows := []clearing.Flow{
		{Issuer: "cafe", Redeemer: "fuel", Kind: clearing.KindBurn, Points: 50, Minor: 5000},
		{Issuer: "cinema", Redeemer: "fuel", Kind: clearing.KindBurn, Points: 20, Minor: 2000},
	}
	if !slices.Equal(rep.Flows, wantFlows) {
		t.Fatalf("flows = %+v\nwant    %+v", rep.Flows, wantFlows)
	}
	wantFees := []clearing.Fee{
		{Payer: "cafe", Kind: clearing.KindInterchange, BP: 100, BaseMinor: 5000, Minor: 50},
		{Payer: "cafe", Kind: clearing.KindIssue, BP: 50, BaseMinor: 5000, Minor: 25},
		{Payer: "cinema", Kind: clearing.KindInterchange, BP: 150, BaseMinor: 2000, Minor: 30},
		{Payer: "cinema", Kind: clearing.KindIssue, BP: 50, BaseMinor: 2000, Minor: 10},
	}
	if !slices.Equal(rep.Fees, wantFees) {
		t.Fatalf("fees = %+v\nwant   %+v", rep.Fees, wantFees)
	}
	wantIssued := []clearing.Issued{{Partner: "cafe", Points: 50}, {Partner: "cinema", Points: 20}}
	if !slices.Equal(rep.Issued, wantIssued) {
		t.Fatalf("issued = %+v, want %+v", rep.Issued, wantIssued)
	}
	drillsDownExactly(t, f, day1, rep)
}
