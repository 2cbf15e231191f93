package ledger_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
)

// protocol watches every statement the ledger sends and checks, at each
// COMMIT, that a transaction that posted followed the lock protocol of
// docs/DATABASE.md: it ran at READ COMMITTED, and before its first write to
// a member's rows it had locked the open window in share mode (if it posted
// a transaction) and the member FOR UPDATE (or inserted the member). Every
// ledger test's fixture runs through it, so a new writer that skips a lock
// fails the suite.
type protocol struct {
	mu         sync.Mutex
	open       map[*pgx.Conn][]string
	violations []string
}

func newProtocol() *protocol { return &protocol{open: map[*pgx.Conn][]string{}} }

// memberRows are the tables whose rows belong to one member: writing them
// is what the member's lock protects.
var memberRows = regexp.MustCompile(`^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+(transactions|lots|lot_consumptions|holds|member_debts|member_tiers|earn_lines|referral_bonuses|member_day_spend|member_open_points|coupon_uses)\b`)

func (p *protocol) statement(conn *pgx.Conn, sql string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	verb := strings.ToLower(strings.TrimSpace(sql))
	switch {
	case strings.HasPrefix(verb, "begin"):
		p.open[conn] = []string{sql}
	case verb == "commit":
		if v := check(p.open[conn]); v != "" {
			p.violations = append(p.violations, v)
		}
		delete(p.open, conn)
	case verb == "rollback":
		delete(p.open, conn)
	default:
		if stmts, ok := p.open[conn]; ok {
			p.open[conn] = append(stmts, sql)
		}
	}
}

// check returns what a committed transaction did wrong, if anything.
func check(stmts []string) string {
	if len(stmts) == 0 {
		return ""
	}
	var windowLocked, memberLocked, posted bool
	for _, s := range stmts[1:] {
		switch {
		case strings.Contains(s, "settlement_windows") && strings.Contains(s, "FOR KEY SHARE"):
			windowLocked = true
		case strings.Contains(s, "FROM members WHERE") && strings.Contains(s, "FOR UPDATE"):
			// Several members are locked in one statement, in id order,
			// so that two such statements (two batches, a batch and a page
			// of expiry or of the hold sweep) cannot deadlock.
			if strings.Contains(s, "ANY(") && !strings.Contains(s, "ORDER BY id") {
				return fmt.Sprintf("members locked by a set without ORDER BY id:\n%s", strings.Join(stmts, "\n---\n"))
			}
			memberLocked = true
		case strings.HasPrefix(strings.TrimSpace(s), "INSERT INTO members"):
			memberLocked = true
		}
		// A coupon's row is shared by whoever holds its code: its use is
		// taken after the member's lock, by a conditional update.
		if strings.HasPrefix(strings.TrimSpace(s), "UPDATE coupons") {
			if !memberLocked || !strings.Contains(s, "uses < max_uses") {
				return fmt.Sprintf("a coupon's use taken without the member's lock or unconditionally:\n%s", strings.Join(stmts, "\n---\n"))
			}
		}
		m := memberRows.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		if !strings.Contains(strings.ToLower(stmts[0]), "read committed") {
			return fmt.Sprintf("%s %s outside a READ COMMITTED posting (%s)", m[1], m[2], stmts[0])
		}
		if !memberLocked {
			return fmt.Sprintf("%s %s before the member's lock:\n%s", m[1], m[2], strings.Join(stmts, "\n---\n"))
		}
		if m[2] == "transactions" && m[1] == "INSERT INTO" {
			posted = true
		}
		if posted && !windowLocked {
			return fmt.Sprintf("a transaction posted without holding the open window:\n%s", strings.Join(stmts, "\n---\n"))
		}
	}
	return ""
}

func (p *protocol) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	p.statement(conn, data.SQL)
	return ctx
}

func (p *protocol) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (p *protocol) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (p *protocol) TraceBatchQuery(_ context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	p.statement(conn, data.SQL)
}

func (p *protocol) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (p *protocol) breaches() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.violations...)
}

// TestTheProtocolCheckCatchesAWriterWithoutLocks: a transaction that
// writes a member's hold without locking the member is reported, as is a
// sweep of expired holds without their members' lock, and members locked
// as a set in no particular order.
func TestTheProtocolCheckCatchesAWriterWithoutLocks(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000)
	if got := f.protocol.breaches(); len(got) != 0 {
		t.Fatalf("the ledger's own writers broke the protocol: %v", got)
	}
	err := f.runner.Write(f.ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(f.ctx, `
			INSERT INTO holds (id, member_id, partner_id, points, status, order_id, created_at, expires_at)
			VALUES (gen_random_uuid(), $1, $2, 1, 'active', 'x', now(), now() + interval '1 hour')`, m.ID, f.cafe.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f.protocol.breaches()
	if len(got) != 1 || !strings.Contains(got[0], "INSERT INTO holds before the member's lock") {
		t.Fatalf("breaches = %q, want the hold written without the member's lock", got)
	}
	f.protocol.violations = nil // the breach was this test's own

	// The hold sweep as it ran before it locked its members: one update
	// of the expired holds, no lock. No writer is exempt any more.
	err = f.runner.Write(f.ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(f.ctx, `
			UPDATE holds SET status = 'expired', released_at = expires_at
			WHERE status = 'active' AND expires_at <= now()`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got = f.protocol.breaches()
	if len(got) != 1 || !strings.Contains(got[0], "UPDATE holds before the member's lock") {
		t.Fatalf("breaches = %q, want the sweep without the members' lock", got)
	}
	f.protocol.violations = nil

	// A page of members locked without an order: two pages, or a page and
	// a batch, could then each hold a member the other waits for.
	err = f.runner.Write(f.ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(f.ctx, `SELECT id FROM members WHERE id = ANY($1) FOR UPDATE`, []coalition.MemberID{m.ID}); err != nil {
			return err
		}
		_, err := tx.Exec(f.ctx, `UPDATE lots SET remaining = remaining WHERE member_id = $1`, m.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got = f.protocol.breaches()
	if len(got) != 1 || !strings.Contains(got[0], "members locked by a set without ORDER BY id") {
		t.Fatalf("breaches = %q, want the unordered lock of several members", got)
	}
	f.protocol.violations = nil
}

// TestAPostingThatMeetsTheWindowClosingLandsInTheNext: a posting waits for
// the open window while clearing closes it and opens the next; the posting
// finds its window gone, runs again, and lands in the next window.
func TestAPostingThatMeetsTheWindowClosingLandsInTheNext(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	closer, err := f.pool.Begin(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Rollback(f.ctx)
	var day string
	if err := closer.QueryRow(f.ctx, `
		SELECT business_date::TEXT FROM settlement_windows WHERE status = 'open' FOR UPDATE`).Scan(&day); err != nil {
		t.Fatal(err)
	}
	before := f.runner.Retries()
	done := make(chan error, 1)
	var res ledger.AccrueResult
	go func() {
		var err error
		res, err = f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: "k", Member: ledger.MemberRef{ID: m.ID},
			Purchase: rub(100_000), OrderID: "o"})
		done <- err
	}()
	pgtest.AwaitLockWait(t, f.pool, "FOR KEY SHARE")
	if _, err := closer.Exec(f.ctx, `UPDATE settlement_windows SET status = 'closed', closed_at = now() WHERE business_date = $1`, day); err != nil {
		t.Fatal(err)
	}
	if _, err := closer.Exec(f.ctx, `
		INSERT INTO settlement_windows (business_date, status, opened_at) VALUES ($1::DATE + 1, 'open', now())`, day); err != nil {
		t.Fatal(err)
	}
	if err := closer.Commit(f.ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if res.Transaction.BusinessDate == day {
		t.Fatalf("the posting landed in the window %s closed while it waited", day)
	}
	if n := f.runner.Retries() - before; n != 1 {
		t.Fatalf("%d attempts run again, want 1 (the one that met the closed window)", n)
	}
	f.checkClean()
}

// TestBatchedCapturesVoidsAndRefundsTakeTheMembersLockFirst: a batch's
// capture, void and refund lock the member of their hold or transaction,
// in the batch's one sorted statement, before they read the hold or the
// earlier refunds. Each batch here waits for a transaction that holds the
// member's lock and changes what the batch will read (captures the hold,
// voids it, refunds the spend in full); the batch then sees that change
// and refuses as one at a time would.
func TestBatchedCapturesVoidsAndRefundsTakeTheMembersLockFirst(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name   string
		op     func(burn ledger.Transaction, h ledger.Hold) ledger.Op
		change string // what the lock's holder does, $1 the hold, $2 the spend
		field  string
	}{
		{"capture", func(_ ledger.Transaction, h ledger.Hold) ledger.Op {
			return ledger.Op{Partner: f.cinema.ID, Capture: &ledger.Capture{IdempotencyKey: f.key(), HoldID: h.ID}}
		}, `UPDATE holds SET status = 'voided', released_at = now() WHERE id = $1 AND $2::uuid IS NOT NULL`, "hold_id"},
		{"void", func(_ ledger.Transaction, h ledger.Hold) ledger.Op {
			return ledger.Op{Partner: f.cinema.ID, Void: &ledger.Void{IdempotencyKey: f.key(), HoldID: h.ID}}
		}, `UPDATE holds SET status = 'captured', captured_points = points, released_at = now() WHERE id = $1 AND $2::uuid IS NOT NULL`, "hold_id"},
		{"refund", func(burn ledger.Transaction, _ ledger.Hold) ledger.Op {
			return ledger.Op{Partner: f.cinema.ID, Refund: &ledger.Refund{IdempotencyKey: f.key(), TransactionID: burn.ID, Points: ptsOf(10)}}
		}, `
			WITH r AS (
			    INSERT INTO transactions (id, kind, partner_id, member_id, business_date, points, order_id, original_id, created_at)
			    SELECT gen_random_uuid(), 'burn_refund', partner_id, member_id, business_date, 10, order_id, id, created_at
			    FROM transactions WHERE id = $2 AND $1::uuid IS NOT NULL
			    RETURNING id, original_id)
			INSERT INTO lot_consumptions (id, transaction_id, lot_id, member_id, issuer_id, redeemer_id, kind, points, business_date, created_at)
			SELECT gen_random_uuid(), r.id, c.lot_id, c.member_id, c.issuer_id, c.redeemer_id, 'burn_refund', -c.points, c.business_date, c.created_at
			FROM r JOIN lot_consumptions AS c ON c.transaction_id = r.original_id`, "points"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, _, burn, h, _ := f.heldAndSpent()
			holder, err := f.pool.Begin(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Rollback(f.ctx)
			if _, err := holder.Exec(f.ctx, `SELECT 1 FROM members WHERE id = $1 FOR UPDATE`, m.ID); err != nil {
				t.Fatal(err)
			}
			done := make(chan ledger.OpResult, 1)
			go func() { done <- f.l.Together(f.ctx, []ledger.Op{c.op(burn, h)})[0] }()
			pgtest.AwaitLockWait(t, f.pool, "ARRAY(SELECT member_id FROM")
			if _, err := holder.Exec(f.ctx, c.change, h.ID, burn.ID); err != nil {
				t.Fatal(err)
			}
			if err := holder.Commit(f.ctx); err != nil {
				t.Fatal(err)
			}
			res := <-done
			if !res.Alone {
				t.Fatalf("the batch applied the %s against what it read before the member's lock: %+v", c.name, res)
			}
			wantError(t, res.Err, coalition.FailedPrecondition, c.field)
		})
	}
	// The holder's writes were this test's own, outside the ledger.
	f.protocol.violations = nil
}
