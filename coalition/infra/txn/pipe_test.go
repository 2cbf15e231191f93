package txn_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
)

// roundTrips counts what a pool's connections send: each Exec, Query or
// QueryRow, and each batch, is one round trip.
type roundTrips struct{ queries, batches atomic.Int64 }

func (c *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.queries.Add(1)
	return ctx
}
func (c *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.batches.Add(1)
	return ctx
}
func (c *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func (c *roundTrips) reset() { c.queries.Store(0); c.batches.Store(0) }

// pipeFixture is a runner over a pool whose round trips are counted, and a
// table of names.
func pipeFixture(t *testing.T) (*txn.Runner, *pgxpool.Pool, *roundTrips) {
	t.Helper()
	ctx := context.Background()
	plain := pgtest.NewDB(t)
	if _, err := plain.Exec(ctx, `CREATE TABLE names (name TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	cfg := plain.Config()
	trips := &roundTrips{}
	cfg.ConnConfig.Tracer = trips
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	r, err := txn.New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	trips.reset()
	return r, plain, trips
}

func names(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var s string
	if err := pool.QueryRow(context.Background(), `SELECT COALESCE(string_agg(name, ',' ORDER BY name), '') FROM names`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// A body that sends one batch with SendCommit is one round trip: its BEGIN,
// at the runner's isolation level, and its COMMIT travel with it.
func TestABatchAndItsCommitAreOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	r, pool, trips := pipeFixture(t)
	for _, c := range []struct {
		name string
		run  func(context.Context, func(pgx.Tx) error) error
		want string
	}{
		{"write", r.Write, "read committed"},
		{"run", r.Run, "serializable"},
	} {
		trips.reset()
		var level string
		err := c.run(ctx, func(tx pgx.Tx) error {
			q := &pgx.Batch{}
			q.Queue(`INSERT INTO names VALUES ($1)`, c.name)
			q.Queue(`SELECT current_setting('transaction_isolation')`).QueryRow(func(row pgx.Row) error { return row.Scan(&level) })
			return txn.SendCommit(ctx, tx, q)
		})
		if err != nil {
			t.Fatal(err)
		}
		if level != c.want {
			t.Errorf("%s: ran at %q, want %q", c.name, level, c.want)
		}
		if q, b := trips.queries.Load(), trips.batches.Load(); q != 0 || b != 1 {
			t.Errorf("%s: %d statements and %d batches sent, want the one batch", c.name, q, b)
		}
	}
	if got := names(t, pool); got != "run,write" {
		t.Fatalf("committed %q, want run,write", got)
	}

	// A read sends its batch with its BEGIN; the runner commits it.
	trips.reset()
	var level, readOnly string
	err := r.Read(ctx, func(tx pgx.Tx) error {
		q := &pgx.Batch{}
		q.Queue(`SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')`).QueryRow(func(row pgx.Row) error {
			return row.Scan(&level, &readOnly)
		})
		return tx.SendBatch(ctx, q).Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	if level != "repeatable read" || readOnly != "on" {
		t.Fatalf("read ran at %q, read only %q", level, readOnly)
	}
	if q, b := trips.queries.Load(), trips.batches.Load(); q != 1 || b != 1 {
		t.Fatalf("read: %d statements and %d batches sent, want the batch and its COMMIT", q, b)
	}
}

// A failed statement skips the COMMIT behind it: nothing of the
// transaction is committed, its error is the database's, and the pool's
// next transaction runs normally.
func TestAFailedStatementSkipsTheCommit(t *testing.T) {
	ctx := context.Background()
	r, pool, _ := pipeFixture(t)
	err := r.Write(ctx, func(tx pgx.Tx) error {
		q := &pgx.Batch{}
		q.Queue(`INSERT INTO names VALUES ('first')`)
		q.Queue(`INSERT INTO names VALUES ('twice'), ('twice')`)
		q.Queue(`INSERT INTO names VALUES ('after')`)
		return txn.SendCommit(ctx, tx, q)
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Fatalf("got %v, want the unique violation", err)
	}
	if got := names(t, pool); got != "" {
		t.Fatalf("committed %q after a failed statement", got)
	}
	for range 3 { // more transactions than the failed one could have left open
		if err := r.Write(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO names SELECT 'next-' || count(*) FROM names`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(t, pool); got != "next-0,next-1,next-2" {
		t.Fatalf("committed %q, want next-0,next-1,next-2", got)
	}
}

// A COMMIT that fails (here a deferred constraint) is reported as the
// database reports it, and commits nothing.
func TestAFailedCommitIsReported(t *testing.T) {
	ctx := context.Background()
	r, pool, _ := pipeFixture(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE late (n INT, CONSTRAINT late_unique UNIQUE (n) DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}
	err := r.Write(ctx, func(tx pgx.Tx) error {
		q := &pgx.Batch{}
		q.Queue(`INSERT INTO names VALUES ('before the commit')`)
		q.Queue(`INSERT INTO late VALUES (1), (1)`)
		return txn.SendCommit(ctx, tx, q)
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" || pgErr.ConstraintName != "late_unique" {
		t.Fatalf("got %v, want late_unique's violation at COMMIT", err)
	}
	if got := names(t, pool); got != "" {
		t.Fatalf("committed %q", got)
	}
}

// A callback that refuses a result cannot stop a COMMIT already sent: the
// runner says the outcome is unknown and does not run the body again, even
// if the callback asked for it.
func TestACallbackErrorLeavesTheCommitUnknownAndIsNotRetried(t *testing.T) {
	ctx := context.Background()
	r, pool, _ := pipeFixture(t)
	runs := 0
	err := r.Write(ctx, func(tx pgx.Tx) error {
		runs++
		q := &pgx.Batch{}
		q.Queue(`INSERT INTO names VALUES ('once')`)
		q.Queue(`SELECT 1`).QueryRow(func(pgx.Row) error { return txn.ErrRetry })
		return txn.SendCommit(ctx, tx, q)
	})
	if err == nil || !strings.Contains(err.Error(), "outcome of COMMIT unknown") || txn.IsRetryable(err) {
		t.Fatalf("got %v, want an unknown outcome, not retryable", err)
	}
	if runs != 1 {
		t.Fatalf("the body ran %d times", runs)
	}
	// Here it did commit; the caller must find out as after a lost COMMIT.
	if got := names(t, pool); got != "once" {
		t.Fatalf("committed %q, want once", got)
	}
}

// A body may start with a plain statement (its BEGIN goes alone) and end
// with SendCommit; and an attempt that sent a batch and asked to run again
// is rolled back before the next.
func TestPlainStatementsAndRetriesInAPipelinedTransaction(t *testing.T) {
	ctx := context.Background()
	r, pool, trips := pipeFixture(t)
	attempt := 0
	err := r.Write(ctx, func(tx pgx.Tx) error {
		attempt++
		var level string
		if err := tx.QueryRow(ctx, `SELECT current_setting('transaction_isolation')`).Scan(&level); err != nil {
			return err
		}
		if level != "read committed" {
			t.Errorf("attempt %d ran at %q", attempt, level)
		}
		q := &pgx.Batch{}
		q.Queue(`INSERT INTO names VALUES ($1)`, "attempt")
		if attempt == 1 {
			if err := tx.SendBatch(ctx, q).Close(); err != nil {
				return err
			}
			return txn.ErrRetry
		}
		return txn.SendCommit(ctx, tx, q)
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempt != 2 {
		t.Fatalf("%d attempts, want 2", attempt)
	}
	if got := names(t, pool); got != "attempt" {
		t.Fatalf("committed %q, want the second attempt's row once", got)
	}
	// Attempt 1: BEGIN, the read, the batch, ROLLBACK; attempt 2: BEGIN,
	// the read, the batch with its COMMIT.
	if q, b := trips.queries.Load(), trips.batches.Load(); q != 5 || b != 2 {
		t.Fatalf("%d statements and %d batches sent, want 5 and 2", q, b)
	}
}
