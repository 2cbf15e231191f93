package clearing_test

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

// TestRandomDaysClearExactlyAndReproducibly posts a random day of traffic
// (earns, burns, captures, refunds of both kinds) for a few members, clears
// it, and checks the report against what the partners were told: the points
// each redeemer took in equal its flows, nets sum to zero, and clearing the
// same day again from scratch gives the same bytes.
func TestRandomDaysClearExactlyAndReproducibly(t *testing.T) {
	f := newFixture(t)
	shops := []partners.Partner{f.cafe, f.cinema, f.fuel}
	c := clearing.New(clearing.Config{Tx: f.runner, Clock: f.clock.Now})
	var members []ledger.MemberRef
	for range 3 {
		members = append(members, f.enroll(f.cafe))
	}
	rapid.Check(t, func(rt *rapid.T) {
		var window string
		if err := f.runner.Pool().QueryRow(f.ctx, `SELECT business_date::TEXT FROM settlement_windows WHERE status = 'open'`).Scan(&window); err != nil {
			rt.Fatal(err)
		}
		redeemed := map[string]coalition.Points{} // points each redeemer was told it took, net of refunds
		var burns []ledger.Transaction
		var earns []ledger.AccrueResult
		code := map[coalition.PartnerID]string{f.cafe.ID: "cafe", f.cinema.ID: "cinema", f.fuel.ID: "fuel"}
		for range rapid.IntRange(1, 25).Draw(rt, "ops") {
			m := members[rapid.IntRange(0, len(members)-1).Draw(rt, "member")]
			shop := shops[rapid.IntRange(0, 2).Draw(rt, "shop")]
			key := f.key()
			var err error
			switch rapid.IntRange(0, 4).Draw(rt, "op") {
			case 0, 1:
				var r ledger.AccrueResult
				if r, err = f.l.Accrue(f.ctx, shop.ID, ledger.Accrual{IdempotencyKey: key, Member: m, OrderID: key,
					Purchase: coalition.Money{Minor: rapid.Int64Range(100, 300_000).Draw(rt, "minor"), Currency: "RUB"}}); err == nil {
					earns = append(earns, r)
				}
			case 2:
				var tx ledger.Transaction
				if tx, err = f.l.Redeem(f.ctx, shop.ID, ledger.Redemption{IdempotencyKey: key, Member: m, OrderID: key,
					Points: coalition.Points(rapid.Int64Range(1, 60).Draw(rt, "points"))}); err == nil {
					redeemed[code[shop.ID]] -= tx.Points
					burns = append(burns, tx)
				}
			case 3:
				if len(burns) == 0 {
					continue
				}
				b := burns[rapid.IntRange(0, len(burns)-1).Draw(rt, "burn")]
				n := coalition.Points(rapid.Int64Range(1, int64(-b.Points)).Draw(rt, "restore"))
				var r ledger.RefundResult
				if r, err = f.l.Refund(f.ctx, b.PartnerID, ledger.Refund{IdempotencyKey: key, TransactionID: b.ID, Points: &n}); err == nil {
					redeemed[code[b.PartnerID]] -= r.Transaction.Points
				}
			case 4:
				if len(earns) == 0 {
					continue
				}
				e := earns[rapid.IntRange(0, len(earns)-1).Draw(rt, "earn")]
				amount := coalition.Money{Minor: rapid.Int64Range(1, e.Transaction.Amount.Minor).Draw(rt, "refund"), Currency: "RUB"}
				_, err = f.l.Refund(f.ctx, e.Transaction.PartnerID, ledger.Refund{IdempotencyKey: key, TransactionID: e.Transaction.ID, Purchase: &amount})
			}
			if e, ok := coalition.AsError(err); ok && e.Code == coalition.FailedPrecondition {
				err = nil
			}
			if err != nil {
				rt.Fatal(err)
			}
		}
		day, _ := time.Parse(time.DateOnly, window)
		f.clock.Set(time.Date(day.Year(), day.Month(), day.Day()+1, 0, 30, 0, 0, moscow))
		first, err := c.Run(f.ctx, day)
		if err != nil {
			rt.Fatal(err)
		}
		r, err := clearing.Decode(first)
		if err != nil {
			rt.Fatal(err)
		}
		flows := map[string]coalition.Points{}
		for _, fl := range r.Flows {
			if fl.Kind == clearing.KindBurn {
				flows[fl.Redeemer] += fl.Points
			}
		}
		for _, p := range []string{"cafe", "cinema", "fuel"} {
			if flows[p] != redeemed[p] {
				rt.Fatalf("%s: flows say %d points taken in, the partner was told %d", p, flows[p], redeemed[p])
			}
		}
		var sum int64
		for _, n := range r.Nets {
			sum += n.Net
		}
		if sum != 0 {
			rt.Fatalf("nets sum to %d", sum)
		}
		// Forget the report (the window stays closed) and clear again.
		if _, err := f.runner.Pool().Exec(f.ctx, `DELETE FROM partner_liabilities WHERE business_date = $1`, window); err != nil {
			rt.Fatal(err)
		}
		if _, err := f.runner.Pool().Exec(f.ctx, `DELETE FROM clearing_reports WHERE business_date = $1`, window); err != nil {
			rt.Fatal(err)
		}
		again, err := c.Run(f.ctx, day)
		if err != nil {
			rt.Fatal(err)
		}
		if string(again) != string(first) {
			rt.Fatalf("clearing %s again gave different bytes", window)
		}
	})
}
