package ledger_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
)

// TestExpiryAndTheSweepTakeTheMembersLockFirst: a page of expiry, and a
// page of the hold sweep, lock their members in their one sorted
// statement before they read the lots or holds. Each waits here for a
// transaction that holds the member's lock and changes what the page will
// read (spends part of the expiring lot, voids the expired hold); the page
// then sees that change: it expires what the lot has left, and leaves the
// voided hold alone.
func TestExpiryAndTheSweepTakeTheMembersLockFirst(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000) // 50 points
	hold, err := f.l.Authorize(f.ctx, f.cinema.ID, ledger.Authorization{IdempotencyKey: f.key(), Member: ledger.MemberRef{ID: m.ID},
		Points: 10, OrderID: "T-1", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(366 * 24 * time.Hour)
	for _, c := range []struct {
		name   string
		run    func() (int64, error)
		waits  string // a fragment of the page's lock statement
		change string // what the lock's holder does
		want   int64
	}{
		{"expiry", func() (int64, error) { n, err := f.l.ExpireLots(f.ctx, 100); return int64(n), err },
			"SELECT DISTINCT member_id FROM lots", `UPDATE lots SET remaining = remaining - 20 WHERE member_id = $1`, 1},
		{"sweep", func() (int64, error) { return f.l.ReleaseExpiredHolds(f.ctx, 100) },
			"SELECT member_id FROM holds", `UPDATE holds SET status = 'voided', released_at = now() WHERE member_id = $1`, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			holder, err := f.pool.Begin(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Rollback(f.ctx)
			if _, err := holder.Exec(f.ctx, `SELECT 1 FROM members WHERE id = $1 FOR UPDATE`, m.ID); err != nil {
				t.Fatal(err)
			}
			type result struct {
				n   int64
				err error
			}
			done := make(chan result, 1)
			go func() {
				n, err := c.run()
				done <- result{n, err}
			}()
			pgtest.AwaitLockWait(t, f.pool, c.waits)
			if _, err := holder.Exec(f.ctx, c.change, m.ID); err != nil {
				t.Fatal(err)
			}
			if err := holder.Commit(f.ctx); err != nil {
				t.Fatal(err)
			}
			if r := <-done; r.err != nil || r.n != c.want {
				t.Fatalf("%s = %d, %v; want %d", c.name, r.n, r.err, c.want)
			}
		})
	}
	var expired int64
	if err := f.pool.QueryRow(f.ctx, `SELECT -points FROM transactions WHERE kind = 'expire'`).Scan(&expired); err != nil || expired != 30 {
		t.Fatalf("expired %d points, %v; want the 30 the lot had left after the holder's change", expired, err)
	}
	var status string
	if err := f.pool.QueryRow(f.ctx, `SELECT status FROM holds WHERE id = $1`, hold.ID).Scan(&status); err != nil || status != "voided" {
		t.Fatalf("hold = %s, %v; want it as the holder left it", status, err)
	}
	// The holder's writes were this test's own, outside the ledger.
	f.protocol.violations = nil
}

// TestExpiryAndTheSweepRunBesideTheLanes: pages of expiry and of the hold
// sweep, from two replicas at once, run while accruals, redemptions and
// voids of the same members go through the lanes. No transaction has to
// run again (a deadlock would: 40P01 is retried), every lot past its date
// expires once and whole, every expired hold is released once at its
// TTL, and every balance is what the acknowledged postings make it.
func TestExpiryAndTheSweepRunBesideTheLanes(t *testing.T) {
	f := newFixtureWith(t, ledger.Config{Lanes: 2})
	const members = 24
	var ms []ledger.Member
	var holds []ledger.Hold
	wantExpired := int64(0)
	for i := range members {
		m := f.enroll(f.cafe)
		ms = append(ms, m)
		f.accrue(f.cafe, m, 100_000)   // 50 points, expiring first
		f.accrue(f.cinema, m, 100_000) // 30
		wantExpired += 80
		if i%3 == 0 {
			f.redeem(f.fuel, m, 20) // from the café's lot
			wantExpired -= 20
		}
		h, err := f.l.Authorize(f.ctx, f.fuel.ID, ledger.Authorization{IdempotencyKey: f.key(), Member: ledger.MemberRef{ID: m.ID},
			Points: 5, OrderID: f.key(), TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		holds = append(holds, h)
	}
	f.clock.Advance(364 * 24 * time.Hour)
	for _, m := range ms {
		f.accrue(f.cafe, m, 200_000) // 100 points that outlive the others
	}
	f.clock.Advance(2 * 24 * time.Hour)
	before := f.runner.Retries()

	// Each member ends with 100 points, plus 5 per accrual, less 3 per
	// redemption, acknowledged during the run.
	var gained [members]atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 12 {
				k := (w*12 + i) % members
				ref := ledger.MemberRef{ID: ms[k].ID}
				key := fmt.Sprintf("run-%d-%d", w, i)
				switch i % 3 {
				case 0:
					if _, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: key, Member: ref, Purchase: rub(10_000), OrderID: key}); err != nil {
						errs <- err
						continue
					}
					gained[k].Add(5)
				case 1:
					if _, err := f.l.Redeem(f.ctx, f.cinema.ID, ledger.Redemption{IdempotencyKey: key, Member: ref, Points: 3, OrderID: key}); err != nil {
						errs <- err
						continue
					}
					gained[k].Add(-3)
				case 2:
					// A till voiding its hold after the TTL: released at
					// the TTL, as the sweep releases it.
					if _, err := f.l.Void(f.ctx, f.fuel.ID, ledger.Void{IdempotencyKey: key, HoldID: holds[k].ID}); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	var expiredLots atomic.Int64
	for range 2 { // two replicas
		wg.Add(2)
		go func() {
			defer wg.Done()
			for {
				n, err := f.l.ExpireLots(f.ctx, 5)
				if err != nil {
					errs <- err
					return
				}
				if n == 0 {
					return
				}
				expiredLots.Add(int64(n))
			}
		}()
		go func() {
			defer wg.Done()
			for {
				n, err := f.l.ReleaseExpiredHolds(f.ctx, 4)
				if err != nil {
					errs <- err
					return
				}
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := f.runner.Retries() - before; n != 0 {
		t.Errorf("%d transactions ran again; want none (pages and batches lock members in one order)", n)
	}
	if n, err := f.l.ExpireLots(f.ctx, 100); err != nil || n != 0 {
		t.Fatalf("a last page expired %d lots, %v; want none left", n, err)
	}
	if n := expiredLots.Load(); n != 2*members {
		t.Errorf("expired %d lots; want %d, each once", n, 2*members)
	}
	var lots, twice, points int64
	if err := f.pool.QueryRow(f.ctx, `
		SELECT count(DISTINCT lot_id), count(*) - count(DISTINCT lot_id), COALESCE(SUM(points), 0)
		FROM lot_consumptions WHERE kind = 'expire'`).Scan(&lots, &twice, &points); err != nil {
		t.Fatal(err)
	}
	if lots != 2*members || twice != 0 || points != wantExpired {
		t.Errorf("expiry consumed %d lots (%d twice), %d points; want %d lots once, %d points", lots, twice, points, 2*members, wantExpired)
	}
	var perIssuer int64
	if err := f.pool.QueryRow(f.ctx, `
		SELECT count(*) FROM (SELECT 1 FROM transactions WHERE kind = 'expire' GROUP BY member_id, partner_id HAVING count(*) > 1) AS d`).Scan(&perIssuer); err != nil || perIssuer != 0 {
		t.Errorf("%d members expired twice at one issuer, %v", perIssuer, err)
	}
	var unreleased int64
	if err := f.pool.QueryRow(f.ctx, `
		SELECT count(*) FROM holds WHERE status <> 'expired' OR released_at IS DISTINCT FROM expires_at`).Scan(&unreleased); err != nil || unreleased != 0 {
		t.Errorf("%d holds not released at their TTL, %v", unreleased, err)
	}
	for k, m := range ms {
		f.wantBalance(m, 100+coalition.Points(gained[k].Load()), 0, 0, 0)
	}
	f.checkClean()
}
