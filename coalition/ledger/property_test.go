package ledger_test

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
)

// TestRandomWorkloadsKeepTheLedgerSound drives one member at a time through
// random sequences of earns, burns, holds, captures, voids, refunds of either
// kind and the passing of days, and checks after every step that the balance
// is the sum of what was posted, and at the end that the ledger check is
// clean. Refunds of spent points make debts here, so the debt paths are
// exercised too.
func TestRandomWorkloadsKeepTheLedgerSound(t *testing.T) {
	f := newFixture(t)
	shops := []partners.Partner{f.cafe, f.cinema, f.fuel}
	rapid.Check(t, func(rt *rapid.T) {
		m := f.enroll(f.cafe)
		ref := ledger.MemberRef{ID: m.ID}
		var posted coalition.Points // sum of the member's acknowledged postings
		type earn struct {
			tx       ledger.Transaction
			at       partners.Partner
			refunded int64
		}
		var earns []*earn
		var burns []ledger.Transaction
		var holds []ledger.Hold
		for step := range rapid.IntRange(1, 30).Draw(rt, "steps") {
			shop := shops[rapid.IntRange(0, 2).Draw(rt, "shop")]
			key := f.key()
			var err error
			switch rapid.IntRange(0, 7).Draw(rt, "op") {
			case 0, 1:
				var r ledger.AccrueResult
				r, err = f.l.Accrue(f.ctx, shop.ID, ledger.Accrual{IdempotencyKey: key, Member: ref, OrderID: key,
					Purchase: rub(rapid.Int64Range(1, 500_000).Draw(rt, "minor"))})
				if err == nil {
					posted += r.Transaction.Points
					earns = append(earns, &earn{tx: r.Transaction, at: shop})
				}
			case 2:
				var tx ledger.Transaction
				tx, err = f.l.Redeem(f.ctx, shop.ID, ledger.Redemption{IdempotencyKey: key, Member: ref, OrderID: key,
					Points: coalition.Points(rapid.Int64Range(1, 100).Draw(rt, "points"))})
				if err == nil {
					posted += tx.Points
					burns = append(burns, tx)
				}
			case 3:
				var h ledger.Hold
				h, err = f.l.Authorize(f.ctx, shop.ID, ledger.Authorization{IdempotencyKey: key, Member: ref, OrderID: key,
					Points: coalition.Points(rapid.Int64Range(1, 100).Draw(rt, "points")), TTL: time.Duration(rapid.IntRange(1, 48).Draw(rt, "ttl hours")) * time.Hour})
				if err == nil {
					holds = append(holds, h)
				}
			case 4:
				if len(holds) == 0 {
					continue
				}
				h := holds[rapid.IntRange(0, len(holds)-1).Draw(rt, "hold")]
				if rapid.Bool().Draw(rt, "capture") {
					part := coalition.Points(rapid.Int64Range(1, int64(h.Points)).Draw(rt, "part"))
					var c ledger.CaptureResult
					c, err = f.l.Capture(f.ctx, h.PartnerID, ledger.Capture{IdempotencyKey: key, HoldID: h.ID, Points: &part})
					if err == nil {
						posted += c.Transaction.Points
						burns = append(burns, c.Transaction)
					}
				} else {
					_, err = f.l.Void(f.ctx, h.PartnerID, ledger.Void{IdempotencyKey: key, HoldID: h.ID})
				}
			case 5:
				if len(earns) == 0 {
					continue
				}
				e := earns[rapid.IntRange(0, len(earns)-1).Draw(rt, "earn")]
				amount := rub(rapid.Int64Range(1, e.tx.Amount.Minor).Draw(rt, "refund minor"))
				var r ledger.RefundResult
				r, err = f.l.Refund(f.ctx, e.at.ID, ledger.Refund{IdempotencyKey: key, TransactionID: e.tx.ID, Purchase: &amount})
				if err == nil {
					posted += r.Transaction.Points
					e.refunded += amount.Minor
					if e.refunded > e.tx.Amount.Minor {
						rt.Fatalf("refunds of %s total %d, above the purchase of %d", e.tx.ID, e.refunded, e.tx.Amount.Minor)
					}
				}
			case 6:
				if len(burns) == 0 {
					continue
				}
				b := burns[rapid.IntRange(0, len(burns)-1).Draw(rt, "burn")]
				n := coalition.Points(rapid.Int64Range(1, int64(-b.Points)).Draw(rt, "restore"))
				var r ledger.RefundResult
				r, err = f.l.Refund(f.ctx, b.PartnerID, ledger.Refund{IdempotencyKey: key, TransactionID: b.ID, Points: &n})
				if err == nil {
					posted += r.Transaction.Points
				}
			case 7:
				f.clock.Advance(time.Duration(rapid.IntRange(1, 72).Draw(rt, "hours")) * time.Hour)
			}
			if e, ok := coalition.AsError(err); ok && e.Code == coalition.FailedPrecondition {
				err = nil // not enough points, refund above the original, hold no longer active
			}
			if err != nil {
				rt.Fatalf("step %d: %v", step, err)
			}
			b := f.balance(m)
			if got := b.Available + b.Held + b.Pending; got != posted {
				rt.Fatalf("step %d: balance %+v adds up to %d, postings to %d", step, b, got, posted)
			}
			if b.Debt > 0 && b.Pending > 0 {
				rt.Fatalf("step %d: owes %d while %d points are pending", step, b.Debt, b.Pending)
			}
		}
		if _, err := f.l.ReleaseExpiredHolds(f.ctx, 1000); err != nil {
			rt.Fatal(err)
		}
		breaches, err := f.l.Check(f.ctx, 0)
		if err != nil {
			rt.Fatal(err)
		}
		for _, b := range breaches {
			rt.Errorf("ledger check: %s: %s", b.Invariant, b.Detail)
		}
	})
}
