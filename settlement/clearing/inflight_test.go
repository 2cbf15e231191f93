package clearing_test

import (
	"testing"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

// TestClearingWaitsForAPostingThatFoundTheWindowOpen: an accrual reads the
// open window and then waits for its member's lock; meanwhile clearing
// closes the window. The accrual still belongs to the window it found
// open, so the report must wait for it and count it: clearing may not
// compute a window while a posting that found it open is still running.
func TestClearingWaitsForAPostingThatFoundTheWindowOpen(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000) // 50 points
	pool := f.runner.Pool()

	// Another writer of the member holds its lock.
	holder, err := pool.Begin(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(f.ctx)
	if _, err := holder.Exec(f.ctx, `SELECT id FROM members WHERE id = $1 FOR UPDATE`, m.ID); err != nil {
		t.Fatal(err)
	}
	accrued := make(chan ledger.AccrueResult, 1)
	failed := make(chan error, 2)
	go func() {
		r, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: "late", Member: m, OrderID: "late",
			Purchase: coalition.Money{Minor: 200_000, Currency: "RUB"}})
		if err != nil {
			failed <- err
			return
		}
		accrued <- r
	}()
	pgtest.AwaitLockWait(t, pool, "FROM members WHERE")
	cleared := make(chan []byte, 1)
	go func() {
		b, err := clearing.New(clearing.Config{Tx: f.runner, Clock: f.clock.Now}).Run(f.ctx, day1)
		if err != nil {
			failed <- err
			return
		}
		cleared <- b
	}()
	// The window is closed, and clearing waits for the accrual in flight.
	pgtest.AwaitLockWait(t, pool, "FROM settlement_windows WHERE business_date = $1 FOR UPDATE")
	select {
	case <-cleared:
		t.Fatal("clearing computed the window while a posting that found it open was running")
	default:
	}
	if err := holder.Commit(f.ctx); err != nil {
		t.Fatal(err)
	}
	var r ledger.AccrueResult
	var body []byte
	for r.Transaction.BusinessDate == "" || body == nil {
		select {
		case err := <-failed:
			t.Fatal(err)
		case r = <-accrued:
		case body = <-cleared:
		}
	}
	if r.Transaction.BusinessDate != "2026-03-10" {
		t.Fatalf("the accrual that found 2026-03-10 open landed in %s", r.Transaction.BusinessDate)
	}
	report, err := clearing.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	var issued coalition.Points
	for _, i := range report.Issued {
		if i.Partner == "cafe" {
			issued += i.Points
		}
	}
	if issued != 150 {
		t.Fatalf("the report counts %d points issued by the café, want 150 (50 before the close, 100 in flight)", issued)
	}
	// The next posting lands in the next window.
	if next := f.accrue(f.cafe, m, 100_000); next.Transaction.BusinessDate != "2026-03-11" {
		t.Fatalf("a posting after clearing landed in %s", next.Transaction.BusinessDate)
	}
}
