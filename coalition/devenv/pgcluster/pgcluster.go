// Package pgcluster starts and stops a throwaway PostgreSQL cluster from the
// system's own server binaries, for the server's dev mode and for the test
// harnesses of packages that keep their data in PostgreSQL.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options says where and how to run the cluster. The zero value is a fresh
// cluster in a temporary folder on a free port.
type Options struct {
	// Dir holds the data folder (Dir/data) and the socket folder (Dir/sock).
	// Empty means a fresh temporary folder that Stop removes. A Dir that
	// already holds a cluster is reused, so dev mode keeps its data.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Logf, if set, receives a line for each step (initdb, start, stop).
	Logf func(format string, args ...any)
}

// Cluster is one running PostgreSQL server. Only one Cluster may use a Dir
// at a time.
type Cluster struct {
	bin      string // folder with initdb, pg_ctl and postgres
	dataDir  string
	sockDir  string
	port     int
	logf     func(format string, args ...any)
	tempDir  string // removed by Stop: we made it
	tempSock string // removed by Stop: we made it
	asPG     bool   // run the binaries as the postgres user (we are root)

	stopOnce sync.Once
	stopErr  error
}

const (
	pgUser      = "postgres"
	readyWithin = 30 * time.Second
	// A unix socket path must fit sun_path (108 bytes with its NUL);
	// the socket file is "/.s.PGSQL.<port>", at most 15 bytes.
	maxSockDirLen = 107 - len("/.s.PGSQL.65535")
)

// Start runs a PostgreSQL server listening only on 127.0.0.1:Port and on a
// unix socket, initialising the cluster first unless Dir already holds one.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, port: opts.Port, logf: opts.Logf}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "pgcluster-"); err != nil {
			return nil, fmt.Errorf("pgcluster: make temp dir: %w", err)
		}
		c.tempDir = dir
	} else if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	defer func() {
		if err != nil {
			_ = c.stop() // leave neither a server nor temp folders behind
		}
	}()
	c.dataDir = filepath.Join(dir, "data")
	c.sockDir = filepath.Join(dir, "sock")
	if len(c.sockDir) > maxSockDirLen || strings.ContainsAny(c.sockDir, " ,'\"\\") {
		// Too long for a socket, or not safe inside pg_ctl's shell command line:
		// /tmp, not $TMPDIR, because $TMPDIR may itself be long.
		if c.sockDir, err = os.MkdirTemp("/tmp", "pgsock-"); err != nil {
			return nil, fmt.Errorf("pgcluster: make socket dir: %w", err)
		}
		c.tempSock = c.sockDir
	}
	// The parent must be searchable by the postgres user; only the data dir
	// itself is private.
	if err := os.MkdirAll(filepath.Dir(c.dataDir), 0o755); err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	for _, d := range []string{c.dataDir, c.sockDir} {
		if err := os.MkdirAll(d, 0o700); err != nil { // postgres insists on 0700 data
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
	}
	if os.Geteuid() == 0 {
		if err := c.handOverToPostgresUser(); err != nil {
			return nil, err
		}
	}

	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err == nil {
		if err := c.clearLeftover(ctx); err != nil {
			return nil, err
		}
	} else {
		c.logf("pgcluster: initdb in %s", c.dataDir)
		args := []string{"-D", c.dataDir, "-U", pgUser, "--auth=trust", "-E", "UTF8", "--locale=C"}
		if c.tempDir != "" {
			args = append(args, "--no-sync") // the files are deleted at Stop: durability buys nothing
		}
		if err := c.run(ctx, "initdb", args...); err != nil {
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
	}

	// A port picked free may be taken before postgres binds it (other test
	// binaries pick ports too), so a picked port gets a few tries.
	for attempt := 1; ; attempt++ {
		if opts.Port == 0 {
			if c.port, err = freePort(); err != nil {
				return nil, err
			}
		}
		portTaken, err := c.startServer(ctx)
		if err == nil {
			break
		}
		if !portTaken || opts.Port != 0 || attempt == 3 {
			return nil, fmt.Errorf("pgcluster: start: %w", err)
		}
	}
	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	c.logf("pgcluster: PostgreSQL ready on 127.0.0.1:%d, data in %s", c.port, c.dataDir)
	return c, nil
}

// URL returns a pgx connection URL for database over TCP loopback.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", pgUser, c.port, url.PathEscape(database))
}

// Port returns the TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// CreateDatabase creates database name, copied from template if one is given.
// PostgreSQL refuses to copy a template that has open connections.
func (c *Cluster) CreateDatabase(ctx context.Context, name, template string) error {
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if err := c.exec(ctx, sql); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// DropDatabase drops database name if it exists, ending its open sessions
// (a test that forgot to close a connection must not block the drop).
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	if err := c.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down (fast mode: open sessions are ended), waits for
// it to exit and removes the folders Start made. Later calls return the
// first call's result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	if _, err := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); err == nil {
		c.logf("pgcluster: stopping PostgreSQL on port %d", c.port)
		if err := c.run(ctx, "pg_ctl", "stop", "-D", c.dataDir, "-m", "fast", "-w", "-t", "60"); err != nil {
			// Fast shutdown still writes a checkpoint, which can stall; immediate does not.
			if err2 := c.run(ctx, "pg_ctl", "stop", "-D", c.dataDir, "-m", "immediate", "-w"); err2 != nil {
				errs = append(errs, fmt.Errorf("pgcluster: stop: %w", errors.Join(err, err2)))
			}
		}
	}
	for _, d := range []string{c.tempSock, c.tempDir} {
		if d != "" {
			if err := os.RemoveAll(d); err != nil {
				errs = append(errs, fmt.Errorf("pgcluster: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// Crash stops the server the way a power cut would (pg_ctl stop -m
// immediate): no checkpoint, connections dropped; the next start recovers
// from the write-ahead log. Fault tests use it with Restart.
func (c *Cluster) Crash(ctx context.Context) error {
	c.logf("pgcluster: crashing PostgreSQL on port %d", c.port)
	if err := c.run(ctx, "pg_ctl", "stop", "-D", c.dataDir, "-m", "immediate", "-w"); err != nil {
		return fmt.Errorf("pgcluster: crash: %w", err)
	}
	return nil
}

// Restart starts a crashed or stopped server again, on the same port and
// data, and waits until it accepts connections.
func (c *Cluster) Restart(ctx context.Context) error {
	c.logf("pgcluster: restarting PostgreSQL on port %d", c.port)
	if _, err := c.startServer(ctx); err != nil {
		return fmt.Errorf("pgcluster: restart: %w", err)
	}
	return c.waitReady(ctx)
}

// findBin finds the folder of the server binaries: $PG_BIN, else the newest
// /usr/lib/postgresql/*/bin (Debian's layout), else initdb's folder on PATH.
func findBin() (string, error) {
	if d := os.Getenv("PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("pgcluster: PG_BIN: %w", err)
		}
		return filepath.Abs(d)
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	best, bestVersion := "", 0.0
	for _, p := range found {
		bin := filepath.Dir(p)
		// Numbers, not strings: "9.6" is older than "15".
		if v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(bin)), 64); err == nil && v > bestVersion {
			best, bestVersion = bin, v
		}
	}
	if best != "" {
		return best, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Abs(filepath.Dir(p))
	}
	return "", errors.New("pgcluster: no initdb in $PG_BIN, /usr/lib/postgresql/*/bin or PATH: install PostgreSQL: apt-get install -y postgresql")
}

// handOverToPostgresUser gives the folders to the postgres user, because
// initdb and postgres refuse to run as root.
func (c *Cluster) handOverToPostgresUser() error {
	u, err := user.Lookup(pgUser)
	if err != nil {
		return fmt.Errorf("pgcluster: running as root needs the %s user (apt-get install -y postgresql creates it): %w", pgUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	chown := func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}
	// Recursive on the data dir: a reused Dir may come from a run as another user.
	for _, d := range []string{c.tempDir, c.dataDir, c.sockDir} {
		if d != "" {
			if err := filepath.WalkDir(d, chown); err != nil {
				return fmt.Errorf("pgcluster: give %s to %s: %w", d, pgUser, err)
			}
		}
	}
	c.asPG = true
	if err := exec.Command("runuser", "-u", pgUser, "--", "test", "-w", c.dataDir).Run(); err != nil {
		return fmt.Errorf("pgcluster: user %s cannot reach %s (every parent folder needs o+x; t.TempDir's parent does not have it): %w", pgUser, c.dataDir, err)
	}
	return nil
}

// clearLeftover deals with a postmaster.pid left by an earlier run in this
// Dir. If that server still runs (its working folder is our data dir) it is
// stopped; otherwise the pid may now belong to an unrelated process, which
// would make postgres refuse to start, so the stale file is removed.
func (c *Cluster) clearLeftover(ctx context.Context) error {
	pidFile := filepath.Join(c.dataDir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	ours, _ := filepath.EvalSymlinks(c.dataDir)
	if pid > 0 && err == nil && cwd == ours {
		c.logf("pgcluster: stopping PostgreSQL (pid %d) left running in %s", pid, c.dataDir)
		if err := c.run(ctx, "pg_ctl", "stop", "-D", c.dataDir, "-m", "fast", "-w", "-t", "60"); err != nil {
			return fmt.Errorf("pgcluster: stop leftover server: %w", err)
		}
		return nil
	}
	if err := os.Remove(pidFile); err != nil {
		return fmt.Errorf("pgcluster: remove stale pid file: %w", err)
	}
	return nil
}

// closeInheritedFiles marks every file this process was given beyond
// stdin, stdout and stderr close-on-exec, so that the server, which
// outlives pg_ctl, holds none of them. Go's fuzzing coordinator hands its
// worker two pipes that way and waits, when the worker ends, until no one
// holds them: a server holding them hung the coordinator for ever.
func closeInheritedFiles() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return // not Linux: nothing to do that this package knows of
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// startServer starts postgres with pg_ctl, which waits until it accepts
// connections. portTaken reports that the TCP port was in use.
func (c *Cluster) startServer(ctx context.Context) (portTaken bool, err error) {
	logFile := filepath.Join(c.dataDir, "postgresql.log")
	var from int64 // show only this attempt's part of the log
	if fi, err := os.Stat(logFile); err == nil {
		from = fi.Size()
	}
	// pg_ctl hands -o to /bin/sh; no value here needs quoting (see sockDir).
	serverOpts := strings.Join([]string{
		"-p", strconv.Itoa(c.port),
		"-k", c.sockDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "default_transaction_isolation=serializable",
		"-c", "fsync=on",
		"-c", "max_connections=200",
		"-c", "shared_buffers=128MB",
		"-c", "log_min_messages=warning",
	}, " ")
	closeInheritedFiles()
	err = c.run(ctx, "pg_ctl", "start", "-w", "-t", strconv.Itoa(int(readyWithin.Seconds())),
		"-D", c.dataDir, "-l", logFile, "-o", serverOpts)
	if err != nil {
		tail := logTail(logFile, from)
		return strings.Contains(tail, "Address already in use"), fmt.Errorf("%w\nserver log %s:\n%s", err, logFile, tail)
	}
	return false, nil
}

// waitReady connects over TCP, the path clients use, until it works.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyWithin)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: wait for PostgreSQL on port %d: %w", c.port, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// run runs one of the server binaries, as the postgres user when we are root.
func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	path := filepath.Join(c.bin, name)
	cmd := exec.CommandContext(ctx, path, args...)
	if c.asPG {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", pgUser, "--", path}, args...)...)
	}
	cmd.Dir = c.dataDir // the postgres user may not be allowed into our working folder
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, args[0], err, bytes.TrimSpace(out))
	}
	return nil
}

func (c *Cluster) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the end of the server log written after offset from.
func logTail(path string, from int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	b = b[min(from, int64(len(b))):]
	return string(bytes.TrimSpace(b[max(0, len(b)-4096):]))
}
