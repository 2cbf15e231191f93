package txn_test

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Two transactions in write skew: each reads what the other writes. At
// SERIALIZABLE one of them must fail with 40001, at a write or at COMMIT.
// The runner must run it again, so that both writes are committed, and must
// never report success for a transaction whose COMMIT failed.
func TestWriteSkewIsRetriedAndBothWritesCommit(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE doctors (name TEXT PRIMARY KEY, on_call BOOL NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO doctors VALUES ('a', true), ('b', true)`); err != nil {
		t.Fatal(err)
	}
	r, err := txn.New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	// Both first attempts read before either writes.
	var read sync.WaitGroup
	read.Add(2)
	var once [2]sync.Once
	body := func(i int, other string) func(pgx.Tx) error {
		return func(tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM doctors WHERE on_call AND name = $1`, other).Scan(&n); err != nil {
				return err
			}
			once[i].Do(func() { read.Done(); read.Wait() })
			// Each goes off call only if the other stays on; and each
			// records that it ran, in a row of its own.
			if _, err := tx.Exec(ctx, `INSERT INTO doctors VALUES ($1, $2)`, "ran-"+other, n > 0); err != nil {
				return err
			}
			return nil
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, other := range []string{"b", "a"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.Run(ctx, body(i, other))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var ran int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM doctors WHERE name LIKE 'ran-%'`).Scan(&ran); err != nil {
		t.Fatal(err)
	}
	if ran != 2 {
		t.Fatalf("%d of 2 acknowledged transactions are committed", ran)
	}
	if r.Retries() == 0 {
		t.Fatal("no retry: the two transactions did not conflict as the test intends")
	}
}

// TestPoolSizeFromTheURLOrTheDefault: a URL without pool_max_conns gets a
// pool sized for concurrent postings, not pgxpool's one connection per CPU;
// a URL that names a size keeps it.
func TestPoolSizeFromTheURLOrTheDefault(t *testing.T) {
	cfg, err := txn.PoolConfig("postgres://u@127.0.0.1:5432/db")
	if err != nil {
		t.Fatal(err)
	}
	if want := txn.DefaultMaxConns(runtime.GOMAXPROCS(0)); cfg.MaxConns != want || want < 16 {
		t.Fatalf("default pool size %d, want %d (at least 16)", cfg.MaxConns, want)
	}
	cfg, err = txn.PoolConfig("postgres://u@127.0.0.1:5432/db?pool_max_conns=5")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != 5 {
		t.Fatalf("pool_max_conns=5 gave %d connections", cfg.MaxConns)
	}
	if got := txn.DefaultMaxConns(8); got != 64 {
		t.Fatalf("8 CPUs: %d connections, want 64", got)
	}
}
