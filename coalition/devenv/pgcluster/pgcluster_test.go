package pgcluster

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestClusterStartsServesAndStopsCleanly(t *testing.T) {
	ctx := context.Background()
	c, err := Start(ctx, Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })

	conn := connect(t, c.URL("postgres"))
	var iso string
	if err := conn.QueryRow(ctx, "SHOW default_transaction_isolation").Scan(&iso); err != nil {
		t.Fatal(err)
	}
	if iso != "serializable" {
		t.Errorf("default_transaction_isolation = %q, want serializable", iso)
	}
	conn.Close(ctx)

	if err := c.CreateDatabase(ctx, "tmpl", ""); err != nil {
		t.Fatal(err)
	}
	tmpl := connect(t, c.URL("tmpl"))
	if _, err := tmpl.Exec(ctx, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	tmpl.Close(ctx) // a template with open sessions cannot be copied

	if err := c.CreateDatabase(ctx, "copy", "tmpl"); err != nil {
		t.Fatal(err)
	}
	copied := connect(t, c.URL("copy"))
	var n int
	if err := copied.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows copied from template: %d, %v; want 1", n, err)
	}
	// The session is still open: DropDatabase must end it rather than fail.
	if err := c.DropDatabase(ctx, "copy"); err != nil {
		t.Fatal(err)
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port()))
	if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		nc.Close()
		t.Errorf("%s still accepts connections after Stop", addr)
	}
	if _, err := os.Stat(c.tempDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temp dir %s not removed: %v", c.tempDir, err)
	}
}

func TestStartReusesDirLeftByAbandonedRun(t *testing.T) {
	ctx := context.Background()
	// Not t.TempDir: its parent is 0700, which the postgres user (used when
	// the tests run as root) cannot pass through.
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	abandoned, err := Start(ctx, Options{Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if err := abandoned.CreateDatabase(ctx, "kept", ""); err != nil {
		t.Fatal(err)
	}

	// The first server is still running, as after a killed dev-mode run.
	c, err := Start(ctx, Options{Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	connect(t, c.URL("kept")).Close(ctx)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}

	// A pid file naming a live process that is not postgres (pid reuse).
	pidFile := filepath.Join(dir, "data", "postmaster.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Start(ctx, Options{Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	connect(t, c.URL("kept")).Close(ctx)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := abandoned.Stop(); err != nil { // its server is gone already
		t.Fatal(err)
	}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
