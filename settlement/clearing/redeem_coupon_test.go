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

// A coupon presented with a redemption settles with its offer's funder
// like any funded bonus: the operator's offer gives 20 points, paid by
// the cinema, to whoever presents its coupon with a redemption at the
// fuel station. The member, with the café's 50 points, spends 30 at the
// fuel station with the coupon and then the other 40 there (the café's
// 20 and the cinema's 20). The cinema counts its 20 as issued, owes the
// fuel station for them and pays the fees on them, and every line drills
// down to the postings.
func TestACouponOnARedemptionSettlesWithItsFunder(t *testing.T) {
	f := newFixture(t)
	store := offers.New(offers.Config{Tx: f.runner, Clock: f.clock.Now})
	now := f.clock.Now()
	operator := offers.Actor{Operator: true}
	const bonus = 20
	if _, err := store.Create(f.ctx, operator, offers.Offer{Code: "FILL-UP", Name: "Fill up", BonusPoints: bonus,
		Partners: []string{"fuel"}, Starts: now, Ends: now.AddDate(0, 1, 0), BudgetPoints: 1_000, FundedBy: "cinema"}); err != nil {
		t.Fatal(err)
	}
	cs, err := store.IssueCoupons(f.ctx, operator, offers.Issue{Offer: "FILL-UP", RequestKey: "print", Count: 1, MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := f.enroll(f.cafe)
	earned := f.accrue(f.cafe, m, 100_000).Earning.Total
	r, err := f.l.RedeemWithCoupon(f.ctx, f.fuel.ID, ledger.Redemption{IdempotencyKey: f.key(), Member: m, OrderID: f.key(),
		Points: 30, CouponCode: cs[0].Code})
	if err != nil {
		t.Fatal(err)
	}
	if r.Coupon == nil || r.Coupon.Points != bonus || r.Coupon.PartnerID != f.cinema.ID {
		t.Fatalf("coupon bonus %+v, want %d points of the cinema's", r.Coupon, bonus)
	}
	f.redeem(f.fuel, m, earned-30+bonus)
	f.clock.Set(time.Date(2026, 3, 11, 0, 30, 0, 0, moscow))
	rep := f.clear(day1)

	// Each issuer's points were all spent at the fuel station: 1 point =
	// 1.00; interchange 1 % (the cinema's 1.5 %) and 0.5 % on issue, of
	// the money value of each issuer's points.
	const pointMinor, issueBP = 100, 50
	cafe, cinema := int64(earned), int64(bonus)
	wantFlows := []clearing.Flow{
		{Issuer: "cafe", Redeemer: "fuel", Kind: clearing.KindBurn, Points: coalition.Points(cafe), Minor: cafe * pointMinor},
		{Issuer: "cinema", Redeemer: "fuel", Kind: clearing.KindBurn, Points: coalition.Points(cinema), Minor: cinema * pointMinor},
	}
	if !slices.Equal(rep.Flows, wantFlows) {
		t.Fatalf("flows = %+v\nwant    %+v", rep.Flows, wantFlows)
	}
	fee := func(payer string, kind clearing.Kind, bp, points int64) clearing.Fee {
		base := points * pointMinor
		return clearing.Fee{Payer: payer, Kind: kind, BP: bp, BaseMinor: base, Minor: base * bp / 10_000}
	}
	wantFees := []clearing.Fee{
		fee("cafe", clearing.KindInterchange, 100, cafe), fee("cafe", clearing.KindIssue, issueBP, cafe),
		fee("cinema", clearing.KindInterchange, 150, cinema), fee("cinema", clearing.KindIssue, issueBP, cinema),
	}
	if !slices.Equal(rep.Fees, wantFees) {
		t.Fatalf("fees = %+v\nwant   %+v", rep.Fees, wantFees)
	}
	wantIssued := []clearing.Issued{{Partner: "cafe", Points: coalition.Points(cafe)}, {Partner: "cinema", Points: coalition.Points(cinema)}}
	if !slices.Equal(rep.Issued, wantIssued) {
		t.Fatalf("issued = %+v, want %+v", rep.Issued, wantIssued)
	}
	drillsDownExactly(t, f, day1, rep)
}
