package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
)

// TestConcurrentTrafficOnFewMembersStaysExact has 32 goroutines accrue,
// redeem, hold, capture, refund and replay on four members at once. Every
// acknowledged transaction must be on the ledger exactly once, balances must
// equal the sum of acknowledged postings, no burn may take a balance below
// zero, and the ledger check must come out clean.
func TestConcurrentTrafficOnFewMembersStaysExact(t *testing.T) {
	f := newFixture(t)
	var members []ledger.Member
	for range 4 {
		m := f.enroll(f.cafe)
		f.accrue(f.cinema, m, 1_000_000) // 300 points each to start with
		members = append(members, m)
	}
	shops := []partners.Partner{f.cafe, f.cinema}

	const workers, opsEach = 32, 25
	var (
		mu    sync.Mutex
		acked = map[uuid.UUID]ledger.Transaction{} // every transaction a client was told of
	)
	ack := func(tx ledger.Transaction) {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := acked[tx.ID]; ok && prev.Points != tx.Points {
			t.Errorf("transaction %s acknowledged twice with different points", tx.ID)
		}
		acked[tx.ID] = tx
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*opsEach)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var lastBurn *ledger.Transaction
			for i := range opsEach {
				m := members[rng.IntN(len(members))]
				ref := ledger.MemberRef{ID: m.ID}
				shop := shops[rng.IntN(len(shops))]
				key := fmt.Sprintf("w%d-op%d", w, i)
				var err error
				switch op := rng.IntN(5); op {
				case 0: // accrue, then replay the same request
					req := ledger.Accrual{IdempotencyKey: key, Member: ref, Purchase: rub(int64(1_000 + rng.IntN(50_000))), OrderID: key}
					var r1, r2 ledger.AccrueResult
					if r1, err = f.l.Accrue(f.ctx, shop.ID, req); err == nil {
						ack(r1.Transaction)
						if r2, err = f.l.Accrue(f.ctx, shop.ID, req); err == nil && r2.Transaction.ID != r1.Transaction.ID {
							err = fmt.Errorf("replay of %s posted a new transaction", key)
						}
					}
				case 1: // redeem
					var tx ledger.Transaction
					if tx, err = f.l.Redeem(f.ctx, shop.ID, ledger.Redemption{IdempotencyKey: key, Member: ref, Points: coalition.Points(1 + rng.IntN(40)), OrderID: key}); err == nil {
						ack(tx)
						lastBurn = &tx
					}
				case 2: // authorize, then capture part of it or void it
					var h ledger.Hold
					if h, err = f.l.Authorize(f.ctx, shop.ID, ledger.Authorization{IdempotencyKey: key, Member: ref, Points: coalition.Points(1 + rng.IntN(30)), OrderID: key}); err == nil {
						if rng.IntN(2) == 0 {
							part := 1 + coalition.Points(rng.Int64N(int64(h.Points)))
							var c ledger.CaptureResult
							if c, err = f.l.Capture(f.ctx, shop.ID, ledger.Capture{IdempotencyKey: key + "-c", HoldID: h.ID, Points: &part}); err == nil {
								ack(c.Transaction)
							}
						} else {
							_, err = f.l.Void(f.ctx, shop.ID, ledger.Void{IdempotencyKey: key + "-v", HoldID: h.ID})
						}
					}
				case 3: // refund part of this worker's last burn
					if lastBurn == nil {
						continue
					}
					n := coalition.Points(1)
					var r ledger.RefundResult
					if r, err = f.l.Refund(f.ctx, lastBurn.PartnerID, ledger.Refund{IdempotencyKey: key, TransactionID: lastBurn.ID, Points: &n}); err == nil {
						ack(r.Transaction)
					}
				case 4: // balance never below zero: there are no earn refunds here
					var b ledger.Balance
					if b, err = f.l.Balance(f.ctx, shop.ID, ref); err == nil && b.Available < 0 {
						err = fmt.Errorf("member %s available %d", m.ID, b.Available)
					}
				}
				if e, ok := coalition.AsError(err); ok && e.Code == coalition.FailedPrecondition {
					err = nil // not enough points, or the burn fully refunded: a fair refusal
				}
				if err != nil {
					errs <- fmt.Errorf("worker %d op %d: %w", w, i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every acknowledged transaction is on the ledger, once, as acknowledged.
	for id, tx := range acked {
		var points coalition.Points
		if err := f.pool.QueryRow(f.ctx, `SELECT points FROM transactions WHERE id = $1`, id).Scan(&points); err != nil || points != tx.Points {
			t.Fatalf("acknowledged transaction %s: stored %d, %v; acknowledged %d", id, points, err, tx.Points)
		}
	}
	var stored int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM transactions`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if want := len(acked) + len(members); stored != want { // + the four opening accruals
		t.Fatalf("%d transactions stored, %d acknowledged: something unacknowledged was posted or a replay posted twice", stored, want)
	}
	// Balances are exactly the sum of the acknowledged postings.
	for _, m := range members {
		want := coalition.Points(300)
		for _, tx := range acked {
			if tx.MemberID == m.ID {
				want += tx.Points
			}
		}
		b := f.balance(m)
		if b.Available < 0 || b.Held != 0 || b.Debt != 0 {
			t.Errorf("member %s: %+v", m.ID, b)
		}
		if got := b.Available + b.Pending; got != want {
			t.Errorf("member %s holds %d points, acknowledged postings sum to %d", m.ID, got, want)
		}
	}
	f.checkClean()
	// Writers of one member wait for its lock and then read what the one
	// before them wrote: none fails and runs again.
	if n := f.runner.Retries(); n != 0 {
		t.Errorf("%d attempts were run again: the member lock should order writers of one member", n)
	}
	t.Logf("%d transactions, %d retried attempts", stored, f.runner.Retries())
}
