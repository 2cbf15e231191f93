// Package txn runs serializable transactions through cockroach-go's retry
// helper, on CockroachDB and on PostgreSQL alike, without losing a commit.
//
// crdbpgx.ExecuteTx retries a failed body inside one transaction with
// SAVEPOINT cockroach_restart, and treats RELEASE SAVEPOINT as the commit,
// ignoring the error of the final COMMIT. That is right on CockroachDB. On
// PostgreSQL RELEASE commits nothing: a serialization failure can surface at
// COMMIT, and a retry inside the same transaction reuses its snapshot and
// fails again, for ever. So on PostgreSQL the runner keeps a serialization
// failure from the helper's inner loop, sees the COMMIT's own result, and
// runs the whole transaction again on a fresh snapshot.
package txn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
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

// PoolConfig parses a connection URL into a pool configuration fit for the
// ledger. On PostgreSQL every connection runs with enable_seqscan off:
// serializable isolation there takes a predicate lock on the whole table for
// a sequential scan, so while tables are small (a new coalition, a test) the
// planner's seq scans would make every pair of concurrent postings conflict.
// Index scans lock only the rows and gaps they read, as on a grown database.
//
// The pool holds DefaultMaxConns(GOMAXPROCS) connections unless the URL
// says otherwise (?pool_max_conns=N): pgxpool's own default, the number of
// CPUs, let only 4 transactions run at once on a 2-core server, so that 16
// or 64 concurrent clients queued for a connection while the database sat
// waiting on round trips.
func PoolConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns(runtime.GOMAXPROCS(0))
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		registerUUID(conn.TypeMap())
		var version string
		if err := conn.QueryRow(ctx, `SELECT version()`).Scan(&version); err != nil {
			return err
		}
		if strings.Contains(version, "CockroachDB") {
			return nil
		}
		// With seq scans off, a query that must read a whole table looks so
		// costly to the planner that it compiles it first: JIT costs about
		// 120 ms on an empty table and buys nothing on OLTP queries.
		_, err := conn.Exec(ctx, `SET enable_seqscan = off; SET jit = off`)
		return err
	}
	return cfg, nil
}

// DefaultMaxConns is the pool size for a server with cpus CPUs: eight
// connections per CPU, at least 16. A posting spends most of its time
// waiting on round trips and the commit's fsync, so a database keeps busy
// with several transactions in flight per core (pgbench tpcb-like peaks
// near 16 clients on 2 cores), and PostgreSQL's default max_connections
// (100) leaves room for a few replicas at that size.
func DefaultMaxConns(cpus int) int32 { return int32(max(16, 8*cpus)) }

// Open connects a pool with PoolConfig and returns a Runner over it.
func Open(ctx context.Context, url string) (*Runner, error) {
	cfg, err := PoolConfig(url)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	r, err := New(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return r, nil
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
	opts := pgx.TxOptions{IsoLevel: pgx.Serializable}
	if r.cockroach {
		return crdbpgx.ExecuteTx(ctx, r.pool, opts, func(tx pgx.Tx) error {
			err := fn(tx)
			if IsRetryable(err) {
				r.retries.Add(1)
			}
			return err
		})
	}
	var err error
	for attempt := 1; attempt <= r.maxAttempts; attempt++ {
		conn := &commitWatcher{pool: r.pool}
		err = crdbpgx.ExecuteTx(ctx, conn, opts, func(tx pgx.Tx) error {
			err := fn(tx)
			if IsRetryable(err) {
				// Hidden from the helper, which would retry inside this
				// transaction, on its old snapshot, for ever.
				return &restartWhole{err}
			}
			return err
		})
		if err == nil {
			err = conn.commitErr
		}
		var restart *restartWhole
		if errors.As(err, &restart) {
			err = restart.cause
		}
		if !IsRetryable(err) {
			return err
		}
		r.retries.Add(1)
		pause := backoff(attempt)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
	return fmt.Errorf("transaction still conflicting after %d attempts: %w", r.maxAttempts, err)
}

// backoff is the pause before attempt+1: exponential with full jitter,
// 2 ms after the first failure, doubling up to one second. Transactions that
// collided do not collide again in step, and under heavy contention on one
// member the pauses spread out until the colliding transactions take turns;
// a cap of 100 ms once let one transaction on a busy member lose 100 times.
func backoff(attempt int) time.Duration {
	ceiling := min(time.Millisecond<<min(attempt, 10), time.Second)
	return time.Duration(rand.Int64N(int64(ceiling))) + 1
}

// restartWhole carries a serialization failure past crdbpgxv5.ExecuteTx
// without its SQLSTATE, so that the whole transaction is run again.
type restartWhole struct{ cause error }

func (e *restartWhole) Error() string { return "restart transaction: " + e.cause.Error() }

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

// Exec answers the helper's SAVEPOINT and RELEASE itself. On PostgreSQL
// the savepoint protocol buys nothing, since a serialization failure
// restarts the whole transaction here, and it would cost two round trips
// per transaction; COMMIT, whose result is kept, then does what RELEASE
// does on CockroachDB. The body's own statements pass through.
func (t *watchedTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	switch sql {
	case "SAVEPOINT cockroach_restart", "RELEASE SAVEPOINT cockroach_restart":
		return pgconn.CommandTag{}, nil
	}
	return t.Tx.Exec(ctx, sql, args...)
}

func (t *watchedTx) Commit(ctx context.Context) error {
	err := t.Tx.Commit(ctx)
	t.c.commitErr = err
	return err
}
