// Package txn runs serializable transactions through cockroach-go's retry
// helper, on CockroachDB and on PostgreSQL alike, without losing a commit.
//
// crdbpgx.ExecuteTx retries a failed body inside one transaction with
// SAVEPOINT cockroach_restart, and treats RELEASE SAVEPOINT as the commit,
// ignoring the error of the final COMMIT. That is right on CockroachDB. On
// PostgreSQL RELEASE commits nothing: a serialization failure can surface at
// COMMIT, and a retry inside the same transaction reuses its snapshot and
// fails again. So on PostgreSQL the runner gives the helper one attempt, sees
// the COMMIT's own result, and retries the whole transaction afresh.
package txn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	crdbpgx "github.com/cockroachdb/cockroach-go/v2/crdb/crdbpgxv5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Runner runs transaction bodies with retries. Safe for concurrent use.
type Runner struct {
	pool        *pgxpool.Pool
	cockroach   bool
	maxAttempts int
	retries     atomic.Int64
}

// New inspects the server behind pool to choose the retry strategy.
func New(ctx context.Context, pool *pgxpool.Pool) (*Runner, error) {
	var version string
	if err := pool.QueryRow(ctx, `SELECT version()`).Scan(&version); err != nil {
		return nil, fmt.Errorf("detect database: %w", err)
	}
	return &Runner{pool: pool, cockroach: strings.Contains(version, "CockroachDB"), maxAttempts: 100}, nil
}

// Pool is the pool the runner writes through, for plain reads.
func (r *Runner) Pool() *pgxpool.Pool { return r.pool }

// CockroachDB reports whether the database is CockroachDB.
func (r *Runner) CockroachDB() bool { return r.cockroach }

// Retries counts the transaction attempts that had to be run again.
func (r *Runner) Retries() int64 { return r.retries.Load() }

// Run executes fn in a SERIALIZABLE transaction and commits it. fn may run
// several times and must have no effect outside the transaction.
func (r *Runner) Run(ctx context.Context, fn func(pgx.Tx) error) error {
	counted := func(tx pgx.Tx) error {
		err := fn(tx)
		if IsRetryable(err) {
			r.retries.Add(1)
		}
		return err
	}
	opts := pgx.TxOptions{IsoLevel: pgx.Serializable}
	if r.cockroach {
		return crdbpgx.ExecuteTx(ctx, r.pool, opts, counted)
	}
	ctx = crdb.WithMaxRetries(ctx, 0) // one attempt per transaction; retried whole below
	var err error
	for attempt := 1; attempt <= r.maxAttempts; attempt++ {
		conn := &commitWatcher{pool: r.pool}
		err = crdbpgx.ExecuteTx(ctx, conn, opts, counted)
		if err == nil {
			err = conn.commitErr
			if IsRetryable(err) {
				r.retries.Add(1)
			}
		}
		if !IsRetryable(err) {
			return err
		}
		// Brief, growing pause so that colliding transactions stop colliding.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt*attempt) * 100 * time.Microsecond):
		}
	}
	return fmt.Errorf("transaction still conflicting after %d attempts: %w", r.maxAttempts, err)
}

// IsRetryable reports a serialization failure (SQLSTATE 40001), which the
// caller answers by running the transaction again.
func IsRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "40001" {
		return true
	}
	// A failed ROLLBACK TO SAVEPOINT after a serialization failure: nothing
	// was committed, so the whole transaction may run again.
	var restart *crdb.TxnRestartError
	return errors.As(err, &restart) && IsRetryable(restart.RetryCause())
}

// commitWatcher hands crdbpgxv5 transactions whose Commit result is kept.
type commitWatcher struct {
	pool      *pgxpool.Pool
	commitErr error
}

func (c *commitWatcher) Begin(ctx context.Context) (pgx.Tx, error) {
	return c.BeginTx(ctx, pgx.TxOptions{})
}

func (c *commitWatcher) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	tx, err := c.pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &watchedTx{Tx: tx, c: c}, nil
}

type watchedTx struct {
	pgx.Tx
	c *commitWatcher
}

func (t *watchedTx) Commit(ctx context.Context) error {
	err := t.Tx.Commit(ctx)
	t.c.commitErr = err
	return err
}
