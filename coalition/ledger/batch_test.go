package ledger_test

import (
	"fmt"
	"strings"
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

// accrualsOf makes one accrual of 1,000.00 for each member, at the café.
func (f *fixture) accrualsOf(members ...ledger.Member) ([]coalition.PartnerID, []ledger.Accrual) {
	var ps []coalition.PartnerID
	var as []ledger.Accrual
	for _, m := range members {
		k := f.key()
		ps = append(ps, f.cafe.ID)
		as = append(as, ledger.Accrual{IdempotencyKey: k, OrderID: k, Member: ledger.MemberRef{ID: m.ID}, Purchase: rub(100_000)})
	}
	return ps, as
}

// wantPostedOnce checks that each accrual answered OK earned once, and
// that a replay of it returns the same transaction.
func (f *fixture) wantPostedOnce(ps []coalition.PartnerID, as []ledger.Accrual, res []ledger.AccrueResult, errs []error) {
	f.t.Helper()
	for i, a := range as {
		if errs[i] != nil {
			continue
		}
		var n int
		if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM transactions WHERE kind = 'earn' AND order_id = $1`, a.OrderID).Scan(&n); err != nil {
			f.t.Fatal(err)
		}
		if n != 1 {
			f.t.Errorf("order %s earned %d times", a.OrderID, n)
		}
		again, err := f.l.Accrue(f.ctx, ps[i], a)
		if err != nil || again.Transaction.ID != res[i].Transaction.ID {
			f.t.Errorf("replay of %s: %v, transaction %s; want the original %s", a.IdempotencyKey, err, again.Transaction.ID, res[i].Transaction.ID)
		}
	}
	f.checkClean()
}

// TestAPoisonedBatchRunsItsRequestsAlone: a request the database refuses
// with an error nobody foresaw (here a trigger) fails its batch; every
// request of the batch then runs alone, the poisoned one gets its error
// and the others post, once each.
func TestAPoisonedBatchRunsItsRequestsAlone(t *testing.T) {
	f := newFixture(t)
	if _, err := f.pool.Exec(f.ctx, `
		CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'poisoned order %', NEW.order_id; END $$;
		CREATE TRIGGER poison BEFORE INSERT ON transactions FOR EACH ROW WHEN (NEW.order_id = 'poison') EXECUTE FUNCTION poison()`); err != nil {
		t.Fatal(err)
	}
	ps, as := f.accrualsOf(f.enroll(f.cafe), f.enroll(f.cafe), f.enroll(f.cafe))
	as[1].OrderID = "poison"
	before := f.l.BatchStats()
	res, errs := f.l.AccrueTogether(f.ctx, ps, as)
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("the healthy requests failed: %v, %v", errs[0], errs[2])
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "poisoned order") {
		t.Fatalf("the poisoned request: %v, want the database's error", errs[1])
	}
	if got := f.l.BatchStats(); got.Failed != before.Failed+1 || got.Alone != before.Alone+3 {
		t.Fatalf("stats %+v after %+v: want one failed batch, its three requests alone", got, before)
	}
	f.wantPostedOnce(ps, as, res, errs)
}

// TestABatchWhoseConnectionDiesAtCommitIsAnsweredOnce: the database
// connection dies while the batch commits (pg_terminate_backend from a
// deferred trigger, once); the outcome is unknown to the ledger, which runs
// every request again alone: each is answered, posted once, and replays.
func TestABatchWhoseConnectionDiesAtCommitIsAnsweredOnce(t *testing.T) {
	f := newFixture(t)
	ps, as := f.accrualsOf(f.enroll(f.cafe), f.enroll(f.cafe), f.enroll(f.cafe), f.enroll(f.cafe))
	if _, err := f.pool.Exec(f.ctx, `
		CREATE SEQUENCE tripwire;
		CREATE FUNCTION trip() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('tripwire') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
			RETURN NULL;
		END $$;
		CREATE CONSTRAINT TRIGGER trip AFTER INSERT ON idempotency_keys DEFERRABLE INITIALLY DEFERRED
			FOR EACH ROW EXECUTE FUNCTION trip()`); err != nil {
		t.Fatal(err)
	}
	before := f.l.BatchStats()
	res, errs := f.l.AccrueTogether(f.ctx, ps, as)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("accrual %d: %v", i, err)
		}
	}
	if got := f.l.BatchStats(); got.Failed != before.Failed+1 {
		t.Fatalf("stats %+v after %+v: want the batch failed at COMMIT", got, before)
	}
	f.wantPostedOnce(ps, as, res, errs)
}

// TestOneMemberThroughTheLanesFromManyTills: 240 accruals of one member
// from 16 goroutines go through its lane in overlapping batches (the next
// starts while the previous commits). Every accrual posts once, the member
// holds the sum of the answers, each tier is reached exactly once, and the
// stored tier is the one the total spend reaches.
func TestOneMemberThroughTheLanesFromManyTills(t *testing.T) {
	f := newFixture(t)
	f.putRules(batchRules())
	m := f.enroll(f.cafe)
	const tills, each = 16, 15
	type answer struct {
		points   coalition.Points
		tier     string
		upgraded bool
	}
	answers := make(chan answer, tills*each)
	errs := make(chan error, tills)
	for till := range tills {
		go func() {
			for i := range each {
				k := fmt.Sprintf("till-%d-%d", till, i)
				r, err := f.l.Accrue(f.ctx, f.cinema.ID, ledger.Accrual{IdempotencyKey: k, OrderID: k,
					Member: ledger.MemberRef{CardNumber: m.CardNumber}, Purchase: rub(10_000)})
				if err != nil {
					errs <- err
					return
				}
				var bonus coalition.Points
				for _, b := range r.Bonuses {
					bonus += b.Points
				}
				answers <- answer{r.Transaction.Points + bonus, r.Earning.Tier, r.Earning.Upgraded}
			}
			errs <- nil
		}()
	}
	for range tills {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(answers)
	var sum coalition.Points
	upgrades := map[string]int{}
	for a := range answers {
		sum += a.points
		if a.upgraded {
			upgrades[a.tier]++
		}
	}
	// 240 purchases of 100.00: 24,000.00 of spend, past silver (3,000.00)
	// and gold (10,000.00).
	if upgrades["silver"] != 1 || upgrades["gold"] != 1 || len(upgrades) != 2 {
		t.Errorf("tier upgrades %v, want silver and gold once each", upgrades)
	}
	if b := f.balance(m); b.Available != sum {
		t.Errorf("available %d, the answers sum to %d", b.Available, sum)
	}
	var earns int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM transactions WHERE kind = 'earn' AND member_id = $1`, m.ID).Scan(&earns); err != nil {
		t.Fatal(err)
	}
	if earns != tills*each {
		t.Errorf("%d earns posted, want %d", earns, tills*each)
	}
	if s := f.l.BatchStats(); s.Batches >= tills*each {
		t.Errorf("stats %+v: the accruals never met in a batch", s)
	}
	f.checkClean()
}

// TestABatchSpendsWhatItsEarlierAccrualsEarned: in one batch a member earns
// 50 points, spends 30 of them, asks for 30 more (refused: 20 left) and
// earns again. The earn and the first spend commit in the batch, the
// refusal and what follows it run alone after it, and every answer is the
// one of one at a time.
func TestABatchSpendsWhatItsEarlierAccrualsEarned(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	ref := ledger.MemberRef{CardNumber: m.CardNumber}
	earn := func() ledger.Op {
		k := f.key()
		return ledger.Op{Partner: f.cafe.ID, Accrual: ledger.Accrual{IdempotencyKey: k, OrderID: k, Member: ref, Purchase: rub(100_000)}}
	}
	spend := func(n coalition.Points) ledger.Op {
		k := f.key()
		return ledger.Op{Partner: f.cinema.ID, Redemption: &ledger.Redemption{IdempotencyKey: k, OrderID: k, Member: ref, Points: n}}
	}
	before := f.l.BatchStats()
	ops := []ledger.Op{earn(), spend(30), spend(30), earn()}
	res := f.l.Together(f.ctx, ops)
	if res[0].Err != nil || res[0].Accrued.Transaction.Points != 50 {
		t.Fatalf("earn: %+v", res[0])
	}
	if res[1].Err != nil || res[1].Burned.Points != -30 {
		t.Fatalf("first spend: %+v", res[1])
	}
	wantError(t, res[2].Err, coalition.FailedPrecondition, "points")
	if res[3].Err != nil || res[3].Accrued.Transaction.Points != 50 {
		t.Fatalf("second earn: %+v", res[3])
	}
	if got := f.l.BatchStats(); got.Batched-before.Batched != 2 || got.Alone-before.Alone != 2 {
		t.Fatalf("stats %+v after %+v: want the earn and the spend batched, the refusal and the last earn alone", got, before)
	}
	f.wantBalance(m, 70, 0, 0, 0)
	// The refusal was recorded under its key, as Redeem records it: its
	// replay is refused though 70 points are there now; the spend replays.
	_, err := f.l.Redeem(f.ctx, f.cinema.ID, *ops[2].Redemption)
	wantError(t, err, coalition.FailedPrecondition, "points")
	if again, err := f.l.Redeem(f.ctx, f.cinema.ID, *ops[1].Redemption); err != nil || again.ID != res[1].Burned.ID {
		t.Fatalf("replay of the first spend: %+v, %v; want %s", again, err, res[1].Burned.ID)
	}
	f.wantBalance(m, 70, 0, 0, 0)
	f.checkClean()
}
