package ledger_test

import (
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/ledger"
)

// Voiding a hold that is already voided, or expired, is not a refusal:
// under a new key it answers with the hold as it stands and posts nothing,
// so a till that lost track of its void may send it again.
func TestVoidingAHoldAlreadyReleasedAnswersWithItAndPostsNothing(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000) // 50 points
	ref := ledger.MemberRef{ID: m.ID}
	voided, err := f.l.Authorize(f.ctx, f.cinema.ID, ledger.Authorization{IdempotencyKey: f.key(), Member: ref, Points: 20, OrderID: "T-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Void(f.ctx, f.cinema.ID, ledger.Void{IdempotencyKey: f.key(), HoldID: voided.ID}); err != nil {
		t.Fatal(err)
	}
	expired, err := f.l.Authorize(f.ctx, f.cinema.ID, ledger.Authorization{IdempotencyKey: f.key(), Member: ref, Points: 20, OrderID: "T-2", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Minute)
	for _, c := range []struct {
		hold ledger.Hold
		want ledger.HoldStatus
	}{{voided, ledger.HoldVoided}, {expired, ledger.HoldExpired}} {
		for range 2 {
			before := f.count("transactions")
			h, err := f.l.Void(f.ctx, f.cinema.ID, ledger.Void{IdempotencyKey: f.key(), HoldID: c.hold.ID})
			if err != nil || h.Status != c.want {
				t.Fatalf("void of a %s hold = %+v, %v", c.want, h, err)
			}
			if after := f.count("transactions"); after != before {
				t.Fatalf("void of a %s hold posted %d transactions", c.want, after-before)
			}
		}
	}
	f.wantBalance(m, 50, 0, 0, 0)
	f.checkClean()
}

// A balance's next expiry counts every lot not yet expired, pending points
// included: they expire on their date whether or not they became spendable.
func TestNextExpiryCountsPendingPoints(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.fuel)
	f.accrue(f.fuel, m, 300_000) // 30 points, pending for 14 days
	b := f.balance(m)
	if b.Pending != 30 || b.NextExpiryPoints != 30 || b.NextExpiryAt == nil || b.Expiring30d != 0 {
		t.Fatalf("balance = %+v, want 30 pending points as the next to expire", b)
	}
}
