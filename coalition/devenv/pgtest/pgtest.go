// Package pgtest gives tests a real database: one throwaway PostgreSQL
// cluster per test binary, a migrated template database, and a fresh
// database cloned from it for each test. With COCKROACH_BINARY set to a
// cockroach binary, the same tests run on a single-node CockroachDB started
// by cockroach-go's testserver instead (each test's database is created and
// migrated, CockroachDB having no template databases).
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/cockroach-go/v2/testserver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgcluster"
	"github.com/coalition-loyalty/coalition/coalition/infra/schema"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
)

const template = "coalition_template"

var (
	cluster   *pgcluster.Cluster
	cockroach *url.URL // set when the tests run on CockroachDB
	seq       atomic.Int64
)

// CockroachEnv names the variable that points the tests at a cockroach
// binary.
const CockroachEnv = "COCKROACH_BINARY"

// Main starts the cluster, migrates the template, runs the tests and stops
// the cluster. Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if bin := os.Getenv(CockroachEnv); bin != "" {
		ts, err := testserver.NewTestServer(testserver.CockroachBinaryPathOpt(bin))
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: start CockroachDB:", err)
			return 1
		}
		defer ts.Stop()
		cockroach = ts.PGURL()
		return m.Run()
	}
	var err error
	cluster, err = pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: start PostgreSQL:", err)
		return 1
	}
	defer cluster.Stop()
	if err := cluster.CreateDatabase(ctx, template, ""); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	pool, err := pgxpool.New(ctx, cluster.URL(template))
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	_, err = schema.Migrate(ctx, pool)
	pool.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: migrate template:", err)
		return 1
	}
	return m.Run()
}

// NewURL creates a new, migrated, empty database that is dropped when the
// test ends, and returns its connection URL.
func NewURL(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", seq.Add(1), sanitize(t.Name()))
	if cockroach != nil {
		return newCockroachDB(t, name)
	}
	if cluster == nil {
		t.Fatal("pgtest: no cluster; call pgtest.Main from TestMain")
	}
	if err := cluster.CreateDatabase(context.Background(), name, template); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { _ = cluster.DropDatabase(context.Background(), name) })
	return cluster.URL(name)
}

// NewDB returns a pool on a new, migrated, empty database that is dropped
// when the test ends.
func NewDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	cfg, err := txn.PoolConfig(NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 40
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return b.String()
}

// newCockroachDB creates and migrates a database on the CockroachDB test
// server.
func newCockroachDB(t testing.TB, name string) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, cockroach.String())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), cockroach.String()); err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" CASCADE")
			c.Close(context.Background())
		}
	})
	u := *cockroach
	u.Path = "/" + name
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer pool.Close()
	if _, err := schema.Migrate(ctx, pool); err != nil {
		t.Fatalf("pgtest: migrate on CockroachDB: %v", err)
	}
	return u.String()
}

// AwaitLockWait waits until some session of the database is waiting for a
// lock in a statement containing fragment, so that a test can order
// concurrent transactions at their locks instead of with sleeps. It fails
// the test after a minute.
func AwaitLockWait(t testing.TB, pool *pgxpool.Pool, fragment string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var n int
		if err := pool.QueryRow(context.Background(), `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND strpos(query, $1) > 0`, fragment).Scan(&n); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		if n > 0 {
			return
		}
	}
	t.Fatalf("pgtest: no session waited for a lock in a statement with %q", fragment)
}
