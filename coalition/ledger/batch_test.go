package ledger_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/rules"
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
	earn := func() ledger.Op { return f.earnOp(f.cafe, ref, 100_000) }
	spend := func(n coalition.Points) ledger.Op { return f.spendOp(f.cinema, ref, n) }
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

// heldAndSpent gives a member 50 points at the café (an earn of 1,000.00),
// a spend of 10 at the cinema and two holds at the cinema, of 10 and 5.
func (f *fixture) heldAndSpent() (ledger.Member, ledger.AccrueResult, ledger.Transaction, ledger.Hold, ledger.Hold) {
	f.t.Helper()
	m := f.enroll(f.cafe)
	earn := f.accrue(f.cafe, m, 100_000)
	burn := f.redeem(f.cinema, m, 10)
	hold := func(n coalition.Points) ledger.Hold {
		h, err := f.l.Authorize(f.ctx, f.cinema.ID, ledger.Authorization{IdempotencyKey: f.key(), OrderID: f.key(),
			Member: ledger.MemberRef{ID: m.ID}, Points: n})
		if err != nil {
			f.t.Fatal(err)
		}
		return h
	}
	return m, earn, burn, hold(10), hold(5)
}

func ptsOf(n coalition.Points) *coalition.Points { return &n }

// TestABatchCapturesVoidsAndRefundsInArrivalOrder: one batch captures part
// of a hold, voids another, refunds a spend and half a purchase, and meets
// what one at a time refuses: a second capture and a void of the captured
// hold, a refund beyond what is left, a refund of a refund. The postings
// commit in the batch, the refusals run alone with their own wording, and
// replays return the originals.
func TestABatchCapturesVoidsAndRefundsInArrivalOrder(t *testing.T) {
	f := newFixture(t)
	m, earn, burn, h1, h2 := f.heldAndSpent()
	f.wantBalance(m, 25, 0, 15, 0)
	half := rub(50_000)
	ops := []ledger.Op{
		{Partner: f.cinema.ID, Capture: &ledger.Capture{IdempotencyKey: f.key(), HoldID: h1.ID, Points: ptsOf(6)}},
		{Partner: f.cinema.ID, Void: &ledger.Void{IdempotencyKey: f.key(), HoldID: h2.ID}},
		{Partner: f.cinema.ID, Refund: &ledger.Refund{IdempotencyKey: f.key(), TransactionID: burn.ID, Points: ptsOf(10)}},
		{Partner: f.cafe.ID, Refund: &ledger.Refund{IdempotencyKey: f.key(), TransactionID: earn.Transaction.ID, Purchase: &half}},
		{Partner: f.cinema.ID, Void: &ledger.Void{IdempotencyKey: f.key(), HoldID: h2.ID}}, // voided already: answered as it stands
		{Partner: f.cinema.ID, Capture: &ledger.Capture{IdempotencyKey: f.key(), HoldID: h1.ID}},
		{Partner: f.cinema.ID, Void: &ledger.Void{IdempotencyKey: f.key(), HoldID: h1.ID}},
		{Partner: f.cinema.ID, Refund: &ledger.Refund{IdempotencyKey: f.key(), TransactionID: burn.ID, Points: ptsOf(1)}},
		{Partner: f.cafe.ID, Void: &ledger.Void{IdempotencyKey: f.key(), HoldID: h2.ID}}, // another partner's hold
	}
	before := f.l.BatchStats()
	res := f.l.Together(f.ctx, ops)
	if r := res[0]; r.Err != nil || r.Alone || r.Captured.Transaction.Points != -6 || r.Captured.Hold.Status != ledger.HoldCaptured ||
		r.Captured.Hold.CapturedPoints != 6 {
		t.Fatalf("capture: %+v", r)
	}
	if r := res[1]; r.Err != nil || r.Alone || r.Held.Status != ledger.HoldVoided {
		t.Fatalf("void: %+v", r)
	}
	if r := res[2]; r.Err != nil || r.Alone || r.Refunded.Transaction.Points != 10 {
		t.Fatalf("refund of the spend: %+v", r)
	}
	if r := res[3]; r.Err != nil || r.Alone || r.Refunded.Transaction.Points != -25 {
		t.Fatalf("refund of half the purchase: %+v", r)
	}
	if r := res[4]; r.Err != nil || r.Alone || r.Held.Status != ledger.HoldVoided || *r.Held.ReleasedAt != *res[1].Held.ReleasedAt {
		t.Fatalf("second void: %+v", r)
	}
	// Refused, and run alone with their own wording.
	wantError(t, res[5].Err, coalition.FailedPrecondition, "hold_id")
	wantError(t, res[6].Err, coalition.FailedPrecondition, "hold_id")
	wantError(t, res[7].Err, coalition.FailedPrecondition, "points")
	wantError(t, res[8].Err, coalition.NotFound, "hold_id")
	if got := f.l.BatchStats(); got.Batched-before.Batched != 5 || got.Alone-before.Alone != 4 {
		t.Fatalf("stats %+v after %+v: want 5 batched, 4 alone", got, before)
	}
	// 50 earned − 10 spent + 10 back − 6 captured − 25 refunded.
	f.wantBalance(m, 19, 0, 0, 0)
	_, err := f.l.Refund(f.ctx, f.cinema.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: res[2].Refunded.Transaction.ID, Points: ptsOf(1)})
	wantError(t, err, coalition.FailedPrecondition, "transaction_id")
	// Replays answer as the batch did.
	if again, err := f.l.Capture(f.ctx, f.cinema.ID, *ops[0].Capture); err != nil || again.Transaction.ID != res[0].Captured.Transaction.ID {
		t.Fatalf("replay of the capture: %+v, %v", again, err)
	}
	if again, err := f.l.Void(f.ctx, f.cinema.ID, *ops[1].Void); err != nil || again.Status != ledger.HoldVoided || *again.ReleasedAt != *res[1].Held.ReleasedAt {
		t.Fatalf("replay of the void: %+v, %v", again, err)
	}
	if again, err := f.l.Refund(f.ctx, f.cinema.ID, *ops[2].Refund); err != nil || again.Transaction.ID != res[2].Refunded.Transaction.ID {
		t.Fatalf("replay of the refund: %+v, %v", again, err)
	}
	_, err = f.l.Capture(f.ctx, f.cinema.ID, *ops[5].Capture)
	wantError(t, err, coalition.FailedPrecondition, "hold_id")
	f.wantBalance(m, 19, 0, 0, 0)
	f.checkClean()
}

// TestTwoWholeRefundsOfOneSpendInABatch: the second finds the first's
// points given back, as one at a time, and is refused; so is a second
// refund of a whole purchase.
func TestTwoWholeRefundsOfOneSpendInABatch(t *testing.T) {
	f := newFixture(t)
	m, earn, burn, _, _ := f.heldAndSpent()
	whole := *earn.Transaction.Amount
	ops := []ledger.Op{
		{Partner: f.cinema.ID, Refund: &ledger.Refund{IdempotencyKey: f.key(), TransactionID: burn.ID, Points: ptsOf(10)}},
		{Partner: f.cafe.ID, Refund: &ledger.Refund{IdempotencyKey: f.key(), TransactionID: earn.Transaction.ID, Purchase: &whole}},
	}
	other := f.enroll(f.cafe)
	oe := f.accrue(f.cafe, other, 100_000)
	ob := f.redeem(f.cinema, other, 10)
	ops = append(ops,
		ledger.Op{Partner: f.cinema.ID, Refund: &ledger.Refund{IdempotencyKey: f.key(), TransactionID: ob.ID, Points: ptsOf(10)}},
		ledger.Op{Partner: f.cinema.ID, Refund: &ledger.Refund{IdempotencyKey: f.key(), TransactionID: ob.ID, Points: ptsOf(10)}},
		ledger.Op{Partner: f.cafe.ID, Refund: &ledger.Refund{IdempotencyKey: f.key(), TransactionID: oe.Transaction.ID, Purchase: &whole}},
		ledger.Op{Partner: f.cafe.ID, Refund: &ledger.Refund{IdempotencyKey: f.key(), TransactionID: oe.Transaction.ID, Purchase: &whole}},
	)
	res := f.l.Together(f.ctx, ops)
	for i, want := range []coalition.Points{10, -50, 10} {
		if r := res[i]; r.Err != nil || r.Alone || r.Refunded.Transaction.Points != want {
			t.Fatalf("refund %d: %+v, want %d points in the batch", i, r, want)
		}
	}
	wantError(t, res[3].Err, coalition.FailedPrecondition, "points")
	wantError(t, res[5].Err, coalition.FailedPrecondition, "purchase.minor")
	if res[4].Refunded.Transaction.Points != -50 || res[4].Err != nil {
		t.Fatalf("whole refund of the other's purchase: %+v", res[4])
	}
	// The clawback found all 50 points; the member's holds still hold 15.
	f.wantBalance(m, -15, 0, 15, 0)
	f.wantBalance(other, 0, 0, 0, 0)
	f.checkClean()
}

// capturesVoidsAndRefunds is one batch of each kind for three members:
// a capture, a void, a refund of a spend and of a purchase.
// earnOp is an accrual of a purchase of minor units at p, under a new key
// that is also its order id.
func (f *fixture) earnOp(p partners.Partner, ref ledger.MemberRef, minor int64) ledger.Op {
	k := f.key()
	return ledger.Op{Partner: p.ID, Accrual: ledger.Accrual{IdempotencyKey: k, OrderID: k, Member: ref, Purchase: rub(minor)}}
}

// spendOp is a redemption of n points at p, under a new key that is also
// its order id.
func (f *fixture) spendOp(p partners.Partner, ref ledger.MemberRef, n coalition.Points) ledger.Op {
	k := f.key()
	return ledger.Op{Partner: p.ID, Redemption: &ledger.Redemption{IdempotencyKey: k, OrderID: k, Member: ref, Points: n}}
}

func (f *fixture) capturesVoidsAndRefunds() []ledger.Op {
	f.t.Helper()
	var ops []ledger.Op
	for range 3 {
		_, earn, burn, h1, h2 := f.heldAndSpent()
		half := rub(50_000)
		ops = append(ops,
			ledger.Op{Partner: f.cinema.ID, Capture: &ledger.Capture{IdempotencyKey: f.key(), HoldID: h1.ID}},
			ledger.Op{Partner: f.cinema.ID, Void: &ledger.Void{IdempotencyKey: f.key(), HoldID: h2.ID}},
			ledger.Op{Partner: f.cinema.ID, Refund: &ledger.Refund{IdempotencyKey: f.key(), TransactionID: burn.ID, Points: ptsOf(4)}},
			ledger.Op{Partner: f.cafe.ID, Refund: &ledger.Refund{IdempotencyKey: f.key(), TransactionID: earn.Transaction.ID, Purchase: &half}},
		)
	}
	return ops
}

// wantAnsweredOnce checks each answer, that each posting is on the ledger
// once, and that replays return the originals.
func (f *fixture) wantAnsweredOnce(ops []ledger.Op, res []ledger.OpResult, skip int) {
	f.t.Helper()
	for i, op := range ops {
		r := res[i]
		if i == skip {
			continue
		}
		if r.Err != nil {
			f.t.Fatalf("op %d: %v", i, r.Err)
		}
		var id uuid.UUID
		switch {
		case op.Capture != nil:
			id = r.Captured.Transaction.ID
			again, err := f.l.Capture(f.ctx, op.Partner, *op.Capture)
			if err != nil || again.Transaction.ID != id {
				f.t.Errorf("replay of capture %d: %v, %s; want %s", i, err, again.Transaction.ID, id)
			}
		case op.Void != nil:
			again, err := f.l.Void(f.ctx, op.Partner, *op.Void)
			if err != nil || again.Status != ledger.HoldVoided || r.Held.Status != ledger.HoldVoided {
				f.t.Errorf("void %d: %+v; replay %+v, %v", i, r.Held, again, err)
			}
			continue
		case op.Refund != nil:
			id = r.Refunded.Transaction.ID
			again, err := f.l.Refund(f.ctx, op.Partner, *op.Refund)
			if err != nil || again.Transaction.ID != id {
				f.t.Errorf("replay of refund %d: %v, %s; want %s", i, err, again.Transaction.ID, id)
			}
		}
		var n int
		if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM transactions WHERE id = $1`, id).Scan(&n); err != nil || n != 1 {
			f.t.Errorf("op %d: transaction %s stored %d times (%v)", i, id, n, err)
		}
	}
	var refunds int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM transactions WHERE kind IN ('earn_refund', 'burn_refund', 'capture')`).Scan(&refunds); err != nil {
		f.t.Fatal(err)
	}
	want := 0
	for i, op := range ops {
		if i != skip && (op.Capture != nil || op.Refund != nil) {
			want++
		}
	}
	if refunds != want {
		f.t.Errorf("%d captures and refunds stored, want %d", refunds, want)
	}
	f.checkClean()
}

// TestAPoisonedBatchOfCapturesVoidsAndRefunds: a refund the database
// refuses fails its batch; every request runs alone, the poisoned refund
// gets its error, the others post once and replay.
func TestAPoisonedBatchOfCapturesVoidsAndRefunds(t *testing.T) {
	f := newFixture(t)
	ops := f.capturesVoidsAndRefunds()
	if _, err := f.pool.Exec(f.ctx, `
		CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'poisoned refund of %', NEW.original_id; END $$;
		CREATE TRIGGER poison BEFORE INSERT ON transactions FOR EACH ROW
		WHEN (NEW.kind = 'burn_refund' AND NEW.original_id = '`+ops[6].Refund.TransactionID.String()+`') EXECUTE FUNCTION poison()`); err != nil {
		t.Fatal(err)
	}
	before := f.l.BatchStats()
	res := f.l.Together(f.ctx, ops)
	if res[6].Err == nil || !strings.Contains(res[6].Err.Error(), "poisoned refund") {
		t.Fatalf("the poisoned refund: %v, want the database's error", res[6].Err)
	}
	if got := f.l.BatchStats(); got.Failed != before.Failed+1 || got.Alone != before.Alone+int64(len(ops)) {
		t.Fatalf("stats %+v after %+v: want one failed batch, its requests alone", got, before)
	}
	f.wantAnsweredOnce(ops, res, 6)
}

// TestABatchOfCapturesVoidsAndRefundsWhoseConnectionDiesAtCommit: the
// outcome of the batch's COMMIT is unknown; every request runs again
// alone, is answered, posted once, and replays.
func TestABatchOfCapturesVoidsAndRefundsWhoseConnectionDiesAtCommit(t *testing.T) {
	f := newFixture(t)
	ops := f.capturesVoidsAndRefunds()
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
	res := f.l.Together(f.ctx, ops)
	if got := f.l.BatchStats(); got.Failed != before.Failed+1 {
		t.Fatalf("stats %+v after %+v: want the batch failed at COMMIT", got, before)
	}
	f.wantAnsweredOnce(ops, res, -1)
}

// TestAKeyRepeatedInABatchOfCapturesVoidsAndRefunds: a key used twice in
// one batch runs the second use alone after the first: the same request
// replays, another is a conflict.
func TestAKeyRepeatedInABatchOfCapturesVoidsAndRefunds(t *testing.T) {
	f := newFixture(t)
	_, _, _, h1, _ := f.heldAndSpent()
	_, _, _, _, h2 := f.heldAndSpent()
	m, _, burn, _, _ := f.heldAndSpent()
	k, r := f.key(), f.key()
	refund := ledger.Refund{IdempotencyKey: r, TransactionID: burn.ID, Points: ptsOf(3)}
	ops := []ledger.Op{
		{Partner: f.cinema.ID, Capture: &ledger.Capture{IdempotencyKey: k, HoldID: h1.ID}},
		{Partner: f.cinema.ID, Void: &ledger.Void{IdempotencyKey: k, HoldID: h2.ID}},
		{Partner: f.cinema.ID, Refund: &refund},
		{Partner: f.cinema.ID, Refund: &refund},
	}
	res := f.l.Together(f.ctx, ops)
	if res[0].Err != nil || res[0].Alone {
		t.Fatalf("capture: %+v", res[0])
	}
	wantError(t, res[1].Err, coalition.Conflict, "idempotency_key")
	if res[2].Err != nil || res[3].Err != nil || res[2].Refunded.Transaction.ID != res[3].Refunded.Transaction.ID || !res[3].Alone {
		t.Fatalf("refund and its repeat: %+v, %+v", res[2], res[3])
	}
	f.wantBalance(m, 28, 0, 15, 0) // given back once
	f.checkClean()
}

// A batch reads only the first lots of a spender's purse (Config.PurseHead,
// one here). A spend those cover is applied in the batch, from them; a
// spend they do not cover runs alone, on the whole purse: it must take the
// lots the batch did not read before the one an accrual in the batch just
// made, as clearing charges each spend to the issuers of the lots it took.
func TestABatchSpendsFromTheFirstLotsItReads(t *testing.T) {
	f := newFixtureWith(t, ledger.Config{PurseHead: 1})
	m := f.enroll(f.cafe)
	ref := ledger.MemberRef{ID: m.ID}
	f.accrue(f.cafe, m, 100_000) // 50, the first to expire
	f.clock.Advance(time.Hour)
	f.accrue(f.cinema, m, 100_000) // 30
	f.clock.Advance(time.Hour)
	earn := func() ledger.Op { return f.earnOp(f.cafe, ref, 100_000) }
	spend := func(n coalition.Points) ledger.Op { return f.spendOp(f.fuel, ref, n) }
	res := f.l.Together(f.ctx, []ledger.Op{earn(), spend(20), spend(40)})
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("request %d: %v", i, r.Err)
		}
	}
	if res[1].Alone || !res[2].Alone {
		t.Fatalf("alone: %v, %v; want the 20 points (covered by the first lot) in the batch, the 40 alone", res[1].Alone, res[2].Alone)
	}
	// 20 then 30 of the café's first lot, 10 of the cinema's; the
	// café's new lot is untouched.
	if got, want := f.lotsOf(m), "cafe:50/0 cinema:30/20 cafe:50/50"; got != want {
		t.Fatalf("lots %s, want %s", got, want)
	}
	f.wantBalance(m, 70, 0, 0, 0)
	f.checkClean()
}

// TestABatchReadsItsMembersWithTheirLocksUnlessTheRulesChanged: a batch
// reads what the rules need of its members in the round trip that locks
// them, as the previous batch's rules needed it; the first batch after
// tiers come into force reads them after the locks instead, and its
// members earn at the tier their spend gives them.
func TestABatchReadsItsMembersWithTheirLocksUnlessTheRulesChanged(t *testing.T) {
	f := newFixture(t)
	f.putRules(rules.RuleSet{Partners: []rules.PartnerRules{{Partner: "cafe", RateBP: ptr[int64](500)}}})
	f.putRules(rules.RuleSet{EffectiveFrom: start.Add(time.Hour), Tiers: &rules.Tiers{PeriodDays: 30, Levels: []rules.Tier{
		{Code: "gold", Name: "Gold", ThresholdMinor: 150_000, MultiplierBP: 20_000},
	}}})
	a, b := f.enroll(f.cafe), f.enroll(f.cafe)
	byCard := func(m ledger.Member) ledger.MemberRef { return ledger.MemberRef{CardNumber: m.CardNumber} }
	batch := func(refs ...ledger.MemberRef) ([]ledger.AccrueResult, ledger.BatchStats) {
		t.Helper()
		var ps []coalition.PartnerID
		var as []ledger.Accrual
		for _, ref := range refs {
			k := f.key()
			ps = append(ps, f.cafe.ID)
			as = append(as, ledger.Accrual{IdempotencyKey: k, OrderID: k, Member: ref, Purchase: rub(100_000)})
		}
		before := f.l.BatchStats()
		res, errs := f.l.AccrueTogether(f.ctx, ps, as)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("accrual %d: %v", i, err)
			}
		}
		after := f.l.BatchStats()
		if n := after.Batched - before.Batched; n != int64(len(refs)) || after.Batches-before.Batches != 1 {
			t.Fatalf("stats %+v after %+v: want %d accruals in one batch", after, before, len(refs))
		}
		return res, ledger.BatchStats{ReadAhead: after.ReadAhead - before.ReadAhead}
	}
	// The ledger's first batch has no rules to go by; the second reads
	// ahead, for members named by id and by card.
	if _, s := batch(ledger.MemberRef{ID: a.ID}, byCard(b)); s.ReadAhead != 0 {
		t.Fatalf("the first batch read ahead")
	}
	res, s := batch(byCard(a), ledger.MemberRef{ID: b.ID})
	if s.ReadAhead != 1 || res[0].Earning.Total != 50 || res[1].Earning.Total != 50 {
		t.Fatalf("second batch: read ahead %d, earned %d and %d; want read ahead, 50 each", s.ReadAhead, res[0].Earning.Total, res[1].Earning.Total)
	}
	// Tiers in force: the batch learns it from the rules it reads with
	// the locks, and reads the members' spend (2,000.00 each) after them.
	f.clock.Set(start.Add(time.Hour))
	res, s = batch(ledger.MemberRef{ID: a.ID}, byCard(b))
	for i, r := range res {
		if s.ReadAhead != 0 || r.Earning.Tier != "gold" || r.Earning.Total != 100 {
			t.Fatalf("first batch under tiers: read ahead %d, accrual %d at tier %q earned %d; want read after the locks, gold, 100",
				s.ReadAhead, i, r.Earning.Tier, r.Earning.Total)
		}
	}
	res, s = batch(byCard(a), byCard(b))
	for i, r := range res {
		if s.ReadAhead != 1 || r.Earning.Tier != "gold" || r.Earning.Total != 100 {
			t.Fatalf("next batch: read ahead %d, accrual %d at tier %q earned %d; want read ahead, gold, 100",
				s.ReadAhead, i, r.Earning.Tier, r.Earning.Total)
		}
	}
	f.checkClean()
}

// TestACappedPartnersAccrualsAreBatchedUpToItsCap: once the ledger knows a
// partner's liability limit, a batch reads the partner's outstanding
// points with its locks and applies the accruals the cap allows, in
// order; the one that would pass it is refused, alone, and writes nothing.
func TestACappedPartnersAccrualsAreBatchedUpToItsCap(t *testing.T) {
	// One lane: batches in two lanes at once may each pass the cap, which
	// is soft by the accruals running at the same moment (liability.go).
	f := newFixtureWith(t, ledger.Config{Lanes: 1})
	if _, err := f.pool.Exec(f.ctx, `UPDATE partners SET liability_limit_points = 170 WHERE id = $1`, f.cafe.ID); err != nil {
		t.Fatal(err)
	}
	a, b, c := f.enroll(f.cafe), f.enroll(f.cafe), f.enroll(f.cafe)
	f.accrue(f.cafe, a, 100_000) // 50 outstanding; the ledger learns the cap
	f.wantBatchedUpToCap(a, b, c)
	f.checkClean()
}

// wantBatchedUpToCap accrues 50 points each for a, b and c at the café,
// capped at 170 with 50 outstanding, in one batch: the first two are
// batched, the third (which would make 200) is refused alone and writes
// nothing.
func (f *fixture) wantBatchedUpToCap(a, b, c ledger.Member) {
	t := f.t
	t.Helper()
	ps, as := f.accrualsOf(a, b, c)
	before := f.l.BatchStats()
	res, errs := f.l.AccrueTogether(f.ctx, ps, as)
	after := f.l.BatchStats()
	if errs[0] != nil || errs[1] != nil || res[0].Transaction.Points != 50 || res[1].Transaction.Points != 50 {
		t.Fatalf("first two: %v, %v; earned %d and %d", errs[0], errs[1], res[0].Transaction.Points, res[1].Transaction.Points)
	}
	wantError(t, errs[2], coalition.FailedPrecondition, "")
	if after.Batched-before.Batched != 2 || after.Alone-before.Alone != 1 || after.Failed != before.Failed {
		t.Fatalf("stats %+v after %+v: want two batched, the refusal alone", after, before)
	}
	f.wantBalance(c, 0, 0, 0, 0)
}

// TestAPartnerCappedSinceTheLastBatchIsBatched: a partner given a
// liability limit since the ledger last saw it has its outstanding points
// read in the batch that first meets the cap, and its accruals are
// batched up to the cap, as once the cap is known; they are not each left
// to a transaction of its own, one after another (which made the first
// requests after a cap wait 100 ms and more under load).
func TestAPartnerCappedSinceTheLastBatchIsBatched(t *testing.T) {
	f := newFixtureWith(t, ledger.Config{Lanes: 1})
	a, b, c := f.enroll(f.cafe), f.enroll(f.cafe), f.enroll(f.cafe)
	f.accrue(f.cafe, a, 100_000) // 50 outstanding, uncapped
	if _, err := f.pool.Exec(f.ctx, `UPDATE partners SET liability_limit_points = 170 WHERE id = $1`, f.cafe.ID); err != nil {
		t.Fatal(err)
	}
	f.wantBatchedUpToCap(a, b, c)

	// The cap lifted: the next batch forgets it.
	if _, err := f.pool.Exec(f.ctx, `UPDATE partners SET liability_limit_points = NULL WHERE id = $1`, f.cafe.ID); err != nil {
		t.Fatal(err)
	}
	ps, as := f.accrualsOf(c)
	if _, errs := f.l.AccrueTogether(f.ctx, ps, as); errs[0] != nil {
		t.Fatalf("after the cap was lifted: %v", errs[0])
	}
	f.checkClean()
}
