package ledger_test

import (
	"testing"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
)

// TestABatchAppliesEveryAccrualInOneTransaction: sixteen accruals of four
// members, queued together, commit in one batch, each with the points one
// at a time would give it.
func TestABatchAppliesEveryAccrualInOneTransaction(t *testing.T) {
	f := newFixture(t)
	var members []ledger.Member
	for range 4 {
		members = append(members, f.enroll(f.cafe))
	}
	var ps []coalition.PartnerID
	var as []ledger.Accrual
	for i := range 16 {
		ps = append(ps, f.cafe.ID)
		as = append(as, ledger.Accrual{IdempotencyKey: f.key(), OrderID: f.key(), Member: ledger.MemberRef{ID: members[i%4].ID},
			Purchase: rub(int64(10_000 * (i + 1)))})
	}
	before := f.l.BatchStats()
	res, errs := f.l.AccrueTogether(f.ctx, ps, as)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("accrual %d: %v", i, err)
		}
		if want := coalition.Points(5 * (i + 1)); res[i].Transaction.Points != want {
			t.Errorf("accrual %d earned %d, want %d", i, res[i].Transaction.Points, want)
		}
	}
	got := f.l.BatchStats()
	if n := got.Batched - before.Batched; n != 16 || got.Failed != before.Failed || got.Alone != before.Alone {
		t.Fatalf("stats %+v after %+v: want 16 accruals batched, none alone, no failed batch", got, before)
	}
	f.checkClean()
}
