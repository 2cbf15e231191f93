// Package txn runs the ledger's transactions, with retries, on CockroachDB
// and on PostgreSQL alike, without losing a commit.
//
// Two kinds of transaction:
//   - Write runs at READ COMMITTED. Its bodies follow the ledger's lock
//     protocol (docs/DATABASE.md): the open settlement window in share
//     mode, then the members they touch FOR UPDATE in a fixed order, then
//     the rows beside them. Row locks, not predicate locks, keep the
//     invariants, so writers of different members never conflict.
//   - Run runs at SERIALIZABLE, for the few writers whose invariants a
//     lock does not express (rules, partners, clearing, sessions).
//
// Either way a failed attempt is run again whole, on a fresh snapshot,
// after a jittered pause. cockroach-go's helpers retry inside one
// transaction with SAVEPOINT cockroach_restart, which on PostgreSQL reuses
// the old snapshot and fails for ever, and they ignore the result of the
// final COMMIT, where PostgreSQL reports a serialization failure; its
// ExecuteCtx neither pauses nor knows deadlocks. So the runner owns its
// loop, around a transaction that returns the COMMIT's own error and sends
// its BEGIN, and may send its COMMIT, with its statements (pipe.go).
package txn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

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
		registerArrays(conn.TypeMap())
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

// Write executes fn in a READ COMMITTED transaction and commits it. fn
// must take the ledger's row locks before it reads what it decides on; it
// may run several times and must have no effect outside the transaction.
func (r *Runner) Write(ctx context.Context, fn func(pgx.Tx) error) error {
	return r.run(ctx, pgx.ReadCommitted, fn)
}

// Run executes fn in a SERIALIZABLE transaction and commits it. fn may run
// several times and must have no effect outside the transaction.
func (r *Runner) Run(ctx context.Context, fn func(pgx.Tx) error) error {
	return r.run(ctx, pgx.Serializable, fn)
}

// Read executes fn in a read-only transaction on one snapshot (REPEATABLE
// READ): a balance or a history reads the member's rows as of one moment,
// takes no locks and never conflicts with a posting.
func (r *Runner) Read(ctx context.Context, fn func(pgx.Tx) error) error {
	return r.retry(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

func (r *Runner) run(ctx context.Context, iso pgx.TxIsoLevel, fn func(pgx.Tx) error) error {
	return r.retry(ctx, pgx.TxOptions{IsoLevel: iso}, fn)
}

func (r *Runner) retry(ctx context.Context, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 1; attempt <= r.maxAttempts; attempt++ {
		err = beginPipeFunc(ctx, r.acquire, opts, fn)
		if !IsRetryable(err) {
			return err
		}
		r.retries.Add(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff(attempt)):
		}
	}
	return fmt.Errorf("transaction still conflicting after %d attempts: %w", r.maxAttempts, err)
}

// acquire takes a connection of the pool, and a function that gives it
// back.
func (r *Runner) acquire(ctx context.Context) (*pgx.Conn, func(), error) {
	c, err := r.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	return c.Conn(), c.Release, nil
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

// ErrRetry is returned by a body that found the database moving under it
// in a way a fresh attempt resolves (the settlement window it locked was
// closed meanwhile); the runner runs the transaction again.
var ErrRetry = errors.New("transaction must run again")

// IsRetryable reports an error that running the whole transaction again
// answers: a serialization failure (40001, and CockroachDB's CR000), a
// deadlock (40P01, which READ COMMITTED writers locking two members can
// meet), CockroachDB's ambiguous commit (40003: every body this runner
// runs is idempotent, by its idempotency key or by the state it reads), or
// ErrRetry.
func IsRetryable(err error) bool {
	if errors.Is(err, ErrRetry) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01", "40003", "CR000":
			return true
		}
	}
	return false
}

// Unavailable reports an error that says the database could not be reached
// or went away, rather than anything about the request: a connection
// refused or lost mid-statement, the server shutting down, crashed or
// still starting (SQLSTATE 57P01, 57P02, 57P03), a connection exception
// (class 08), too many connections (53300), or a standby that cannot write
// after a failover (25006). The request did not happen, or its commit's
// fate is unknown; either way a retry with the same idempotency key is
// safe.
func Unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300", "25006":
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return true
	}
	// The caller's own deadline or cancellation is not the database's
	// fault (context.DeadlineExceeded is a net.Error too).
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err)
}

// Unstorable reports text the database refuses to store: a NUL byte or a
// character its encoding lacks (SQLSTATE 22021, 22P05). The edge refuses
// such strings first; this names the cause if one gets through.
func Unstorable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "22021" || pgErr.Code == "22P05")
}
