package ledger_test

import (
	"reflect"
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

// A balance is added up by the database (readBalance); every figure must be
// the one the postings' purse gives, at every moment of a member's life:
// pending points becoming spendable, lots expiring within the horizon and
// then expiring, two lots that expire at the same moment, a hold, a debt.
func TestBalanceIsThePursesSum(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000)
	f.accrue(f.cafe, m, 60_000)  // same moment: the same expiry
	f.accrue(f.fuel, m, 300_000) // pending for 14 days
	f.clock.Advance(24 * time.Hour)
	f.accrue(f.cinema, m, 100_000)
	f.redeem(f.cinema, m, 20)
	if _, err := f.l.Authorize(f.ctx, f.cinema.ID, ledger.Authorization{IdempotencyKey: f.key(), Member: ledger.MemberRef{ID: m.ID},
		Points: 5, OrderID: "held", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	compare := func(when string) {
		t.Helper()
		got := f.balance(m)
		want, err := f.l.BalanceFromPurse(f.ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: balance\n %+v\nwant the purse's\n %+v", when, got, want)
		}
	}
	compare("after the purchases")
	for _, step := range []struct {
		by   time.Duration
		when string
	}{
		{14 * 24 * time.Hour, "the fuel's points spendable"},
		{330 * 24 * time.Hour, "within 30 days of the first expiry"},
		{10 * 24 * time.Hour, "the café's lots expired, the rest within the horizon"},
		{30 * 24 * time.Hour, "every lot expired"},
	} {
		f.clock.Advance(step.by)
		compare(step.when)
	}
	// A member in debt: an earn refunded after its points were spent.
	d := f.enroll(f.cafe)
	earn := f.accrue(f.cafe, d, 100_000)
	f.redeem(f.fuel, d, 50)
	all := rub(100_000)
	if _, err := f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: earn.Transaction.ID, Purchase: &all}); err != nil {
		t.Fatal(err)
	}
	if b := f.balance(d); b.Debt != 50 || b.Available != -50 {
		t.Fatalf("balance in debt = %+v, want 50 owed", b)
	}
	got := f.balance(d)
	want, err := f.l.BalanceFromPurse(f.ctx, d.ID)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("balance in debt\n %+v\nwant the purse's\n %+v (%v)", got, want, err)
	}
}
