package clearing_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

// Points a promotion's funder pays for: the operator funds double points at
// the café, the cinema funds a bonus at the café. When the member spends
// them at the fuel station, each funder owes the fuel station for its own
// points, and the operator charges itself no fees.
func TestPromotionPointsSettleWithTheirFunders(t *testing.T) {
	f := promotionsFixture(t)
	m := f.enroll(f.cafe)
	r := f.accrue(f.cafe, m, 100_000) // 50 of the café's, 50 of the operator's, 20 of the cinema's
	if r.Earning.Total != 120 {
		t.Fatalf("earned %+v", r.Earning)
	}
	f.redeem(f.fuel, m, 120)
	f.clock.Set(time.Date(2026, 3, 11, 0, 30, 0, 0, moscow))
	rep := f.clear(day1)

	wantFlows := []clearing.Flow{
		{Issuer: "cafe", Redeemer: "fuel", Kind: clearing.KindBurn, Points: 50, Minor: 5000},
		{Issuer: "cinema", Redeemer: "fuel", Kind: clearing.KindBurn, Points: 20, Minor: 2000},
		{Issuer: "operator", Redeemer: "fuel", Kind: clearing.KindBurn, Points: 50, Minor: 5000},
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
	// operator: receives 50 + 25 + 30 + 10 = 115 in fees, pays 5000.
	wantNets := map[string]int64{"cafe": -5075, "cinema": -2040, "fuel": 12000, "operator": -4885}
	if got := nets(rep); fmt.Sprint(got) != fmt.Sprint(wantNets) {
		t.Fatalf("nets = %v, want %v", got, wantNets)
	}
	wantIssued := []clearing.Issued{{Partner: "cafe", Points: 50}, {Partner: "cinema", Points: 20}, {Partner: "operator", Points: 50}}
	if !slices.Equal(rep.Issued, wantIssued) {
		t.Fatalf("issued = %+v, want %+v", rep.Issued, wantIssued)
	}
	// The operator's line drills down like any partner's.
	drillsDownExactly(t, f, day1, rep)
}

// A refund of half of a purchase that earned points of three issuers claws
// back half of each issuer's points. The report counts each issuer's
// points issued and clawed back, and every such line (and every fee on
// them) drills down to the postings on that issuer's account: the
// operator's and the cinema's points came in bonus transactions, and one
// refund transaction took points back from all three.
func TestIssuedAndClawedBackPointsDrillDownToEachIssuer(t *testing.T) {
	f := promotionsFixture(t)
	m := f.enroll(f.cafe)
	r := f.accrue(f.cafe, m, 100_000) // 50 of the café's, 50 of the operator's, 20 of the cinema's
	half := coalition.Money{Minor: 50_000, Currency: "RUB"}
	if _, err := f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: r.Transaction.ID, Purchase: &half}); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(time.Date(2026, 3, 11, 0, 30, 0, 0, moscow))
	rep := f.clear(day1)
	wantIssued := []clearing.Issued{
		{Partner: "cafe", Points: 50, ClawedBack: 25},
		{Partner: "cinema", Points: 20, ClawedBack: 10},
		{Partner: "operator", Points: 50, ClawedBack: 25},
	}
	if !slices.Equal(rep.Issued, wantIssued) {
		t.Fatalf("issued = %+v, want %+v", rep.Issued, wantIssued)
	}
	drillsDownExactly(t, f, day1, rep)
}

// promotionsFixture is a fixture whose ledger runs two promotions at the
// café: double points funded by the operator, and 20 points funded by the
// cinema.
func promotionsFixture(t *testing.T) *fixture {
	f := newFixture(t)
	store := rules.NewStore(rules.StoreConfig{Tx: f.runner, Clock: f.clock.Now})
	hasher, _ := phone.NewHMAC([]byte("test-only phone hash key, 32+ bytes long"))
	f.l = ledger.New(ledger.Config{Tx: f.runner, Clock: f.clock.Now, Phones: hasher, Rules: store})
	now := f.clock.Now()
	if _, err := store.Put(f.ctx, rules.RuleSet{Promotions: []rules.Promotion{
		{Code: "double", Name: "Double", Starts: now, Ends: now.AddDate(0, 1, 0), MultiplierBP: 10_000,
			Partners: []string{"cafe"}, FundedBy: rules.FundedByOperator},
		{Code: "movie", Name: "Movie", Starts: now, Ends: now.AddDate(0, 1, 0), BonusPoints: 20,
			Partners: []string{"cafe"}, FundedBy: "cinema"},
	}}); err != nil {
		t.Fatal(err)
	}
	return f
}
