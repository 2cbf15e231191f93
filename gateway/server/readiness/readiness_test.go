package readiness_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgcluster"
	"github.com/coalition-loyalty/coalition/coalition/devenv/vaultdev"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/gateway/server/readiness"
)

// deps are a real PostgreSQL and a real Vault that the test can stop and
// start again on the same port with the same data, as an outage does.
type deps struct {
	t        *testing.T
	dir      string
	pg       *pgcluster.Cluster
	pgPort   int
	vault    *vaultdev.Server
	vaultDir string
	vaultPrt int
}

func startDeps(t *testing.T) *deps {
	t.Helper()
	// Not t.TempDir: the postgres user (tests running as root) must reach it.
	dir, err := os.MkdirTemp("", "readiness-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	d := &deps{t: t, dir: dir, vaultDir: filepath.Join(dir, "vault")}
	t.Cleanup(func() {
		if d.vault != nil {
			d.vault.Stop()
		}
		if d.pg != nil {
			d.pg.Stop()
		}
		os.RemoveAll(dir)
	})
	d.startPG()
	d.startVault()
	return d
}

func (d *deps) startPG() {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(d.dir, "pg"), Port: d.pgPort})
	if err != nil {
		d.t.Fatal(err)
	}
	d.pg, d.pgPort = c, c.Port()
}

func (d *deps) stopPG() {
	d.pg.Stop()
	d.pg = nil
}

func (d *deps) startVault() {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The same storage and the same port: the server's client keeps its
	// address, and its token survives the restart as it would in Vault.
	s, err := vaultdev.Start(ctx, vaultdev.Options{DataDir: d.vaultDir, Port: d.vaultPrt})
	if err != nil {
		d.t.Fatal(err)
	}
	u, _ := url.Parse(s.Addr)
	d.vault = s
	d.vaultPrt, _ = strconv.Atoi(u.Port())
}

func (d *deps) stopVault() {
	d.vault.Stop()
	d.vault = nil
}

// readyz is /readyz as a load balancer and an operator see it.
func readyz(t *testing.T, c *readiness.Checker) (int, readiness.Report) {
	t.Helper()
	c.Check(context.Background())
	srv := httptest.NewServer(c)
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r readiness.Report
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, r
}

type want struct {
	code     int
	status   string
	database string
	vault    string
	expired  []string // credentials no longer trusted
}

func expect(t *testing.T, step string, c *readiness.Checker, w want) readiness.Report {
	t.Helper()
	code, r := readyz(t, c)
	if code != w.code || r.Status != w.status || r.Checks["database"].Status != w.database || r.Checks["vault"].Status != w.vault {
		b, _ := json.MarshalIndent(r, "", "  ")
		t.Fatalf("%s: /readyz is %d %s (database %s, vault %s), want %d %s (database %s, vault %s):\n%s", step, code, r.Status,
			r.Checks["database"].Status, r.Checks["vault"].Status, w.code, w.status, w.database, w.vault, b)
	}
	for name, cr := range r.Checks["vault"].Credentials {
		expired := false
		for _, e := range w.expired {
			expired = expired || e == name
		}
		if (cr.Status != readiness.OK) != expired {
			t.Fatalf("%s: credential %s is %s, want expired: %v", step, name, cr.Status, expired)
		}
	}
	if w.database == readiness.OK && r.Checks["database"].Error != "" {
		t.Fatalf("%s: database ok with an error: %s", step, r.Checks["database"].Error)
	}
	return r
}

func TestReadinessFollowsTheDatabaseAndTheTrustInVaultCredentialsNotEveryVaultBlip(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := startDeps(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	root, err := vault.New(d.vault.Addr, d.vault.Token)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := root.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The server's side, as coalitiond serve wires it.
	sv, err := vault.LoginAppRole(ctx, d.vault.Addr, creds, quiet)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := vault.NewServerCert(ctx, sv, []string{"localhost"}, 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(time.Now())
	crl := &readiness.Stamp{}
	refreshCRL := func() error {
		_, err := sv.RevokedSerials(ctx)
		if err == nil {
			crl.Set(clk.Now())
		}
		return err
	}
	if err := refreshCRL(); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, d.pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var serving []bool
	c := &readiness.Checker{
		Database: pool.Ping,
		Vault: &readiness.Vault{Check: sv.Check, CertExpiry: cert.NotAfter, CertMargin: 10 * time.Minute,
			CRL: crl, CRLMaxAge: 15 * time.Minute},
		Now: clk.Now, Log: quiet,
		OnChange: func(ready bool) { serving = append(serving, ready) },
	}
	lastServing := func() bool { return serving[len(serving)-1] }

	r := expect(t, "all up", c, want{200, "ready", readiness.OK, readiness.OK, nil})
	tok := r.Checks["vault"].Credentials["token"]
	if tok.Remaining == nil || *tok.Remaining <= 0 || *tok.Remaining > 3600 {
		t.Fatalf("the token's remaining seconds are %v, want within the AppRole's 1h TTL", tok.Remaining)
	}
	if !lastServing() {
		t.Fatal("gRPC health is not SERVING while ready")
	}

	// A Vault blip: still ready, and the body says Vault is degraded.
	d.stopVault()
	r = expect(t, "Vault stopped", c, want{200, "degraded", readiness.OK, readiness.Degraded, nil})
	since := r.Checks["vault"].Since
	if r.Checks["vault"].Error == "" || since == nil || !since.Equal(clk.Now()) {
		t.Fatalf("a degraded Vault says error %q since %v", r.Checks["vault"].Error, since)
	}
	clk.Advance(10 * time.Minute)
	r = expect(t, "Vault away 10 minutes", c, want{200, "degraded", readiness.OK, readiness.Degraded, nil})
	if !r.Checks["vault"].Since.Equal(*since) {
		t.Fatalf("the outage's start moved from %s to %s", since, r.Checks["vault"].Since)
	}
	if !lastServing() {
		t.Fatal("gRPC health is not SERVING while degraded")
	}

	// Past the revocation list's maximum age, a certificate revoked since
	// could pass: the replica leaves the load balancer.
	clk.Advance(6 * time.Minute)
	expect(t, "Vault away 16 minutes", c, want{503, "not ready", readiness.OK, readiness.Down, []string{"revocation_list"}})
	if lastServing() {
		t.Fatal("gRPC health is SERVING while not ready")
	}

	// Vault is back, but until the list is read again it is still old.
	d.startVault()
	r = expect(t, "Vault back, list not yet read", c, want{503, "not ready", readiness.OK, readiness.Down, []string{"revocation_list"}})
	if r.Checks["vault"].Error != "" {
		t.Fatalf("Vault is back but the check says %q", r.Checks["vault"].Error)
	}
	if err := refreshCRL(); err != nil {
		t.Fatal(err)
	}
	expect(t, "Vault back, list read", c, want{200, "ready", readiness.OK, readiness.OK, nil})

	// A long outage: the token the server held has expired too.
	d.stopVault()
	clk.Advance(61 * time.Minute)
	expect(t, "Vault away 61 minutes", c, want{503, "not ready", readiness.OK, readiness.Down, []string{"token", "revocation_list"}})
	d.startVault()
	// The server logs in again (its token watcher; here the renewal is
	// still good: Vault's own clock has not moved) and reads the list.
	if err := refreshCRL(); err != nil {
		t.Fatal(err)
	}
	expect(t, "Vault back after a long outage", c, want{200, "ready", readiness.OK, readiness.OK, nil})

	// The server certificate near its end (renewal failing for a day):
	// unready before handshakes fail, even with Vault answering.
	clk.Set(cert.NotAfter().Add(-9 * time.Minute))
	if err := refreshCRL(); err != nil {
		t.Fatal(err)
	}
	expect(t, "certificate expiring", c, want{503, "not ready", readiness.OK, readiness.Down, []string{"server_certificate"}})
	clk.Set(time.Now())
	if err := refreshCRL(); err != nil {
		t.Fatal(err)
	}

	// The database down: unready whatever Vault says.
	d.stopPG()
	r = expect(t, "database stopped", c, want{503, "not ready", readiness.Down, readiness.OK, nil})
	if r.Checks["database"].Error == "" {
		t.Fatal("the database is down without a reason")
	}
	d.startPG()
	expect(t, "database back", c, want{200, "ready", readiness.OK, readiness.OK, nil})
}

func TestReadinessWithoutVaultFollowsTheDatabaseOnly(t *testing.T) {
	c := &readiness.Checker{Database: func(context.Context) error { return nil }, Now: time.Now}
	srv := httptest.NewServer(c)
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("before the first check /readyz is %d, want 503", res.StatusCode)
	}
	code, r := readyz(t, c)
	if _, ok := r.Checks["vault"]; code != 200 || r.Status != "ready" || ok {
		t.Fatalf("/readyz is %d %+v", code, r)
	}
}

// The verdict a load balancer reads on the public port is ready or not,
// without the reason.
func TestTheVerdictSaysReadyOrNotAndNothingMore(t *testing.T) {
	var dbErr error
	c := &readiness.Checker{Database: func(context.Context) error { return dbErr }, Now: time.Now}
	verdict := func() (int, string) {
		res := httptest.NewRecorder()
		c.ServeVerdict(res, httptest.NewRequest("GET", "/readyz", nil))
		return res.Code, res.Body.String()
	}
	if code, body := verdict(); code != 503 || body != "not ready\n" {
		t.Fatalf("before the first check: %d %q", code, body)
	}
	c.Check(context.Background())
	if code, body := verdict(); code != 200 || body != "ready\n" {
		t.Fatalf("database up: %d %q", code, body)
	}
	dbErr = errors.New("dial tcp 10.0.0.5:5432: connection refused")
	c.Check(context.Background())
	if code, body := verdict(); code != 503 || body != "not ready\n" {
		t.Fatalf("database down: %d %q", code, body)
	}
}

// TestRequestsTurnReadinessAtOnce: between periodic checks, a request that
// could not reach the database makes the replica unready at once, and one
// the database answered makes it ready at once; the periodic check still
// has its say, and what it found of Vault is kept.
func TestRequestsTurnReadinessAtOnce(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC))
	pingErr := error(nil)
	var serving []bool
	c := &readiness.Checker{
		Database: func(context.Context) error { return pingErr },
		Vault: &readiness.Vault{Check: func(context.Context) (time.Duration, error) { return 0, errors.New("vault: connection refused") },
			CertExpiry: func() time.Time { return clk.Now().Add(72 * time.Hour) }},
		Now: clk.Now, OnChange: func(ready bool) { serving = append(serving, ready) },
	}
	// Before the first check, requests have nothing to change.
	c.DatabaseUnavailable(errors.New("refused"))
	if c.Last() != nil {
		t.Fatal("a request made a report before the first check")
	}
	state := func(step string, code int, status, database string) readiness.Report {
		t.Helper()
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		var r readiness.Report
		if err := json.NewDecoder(rec.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		if rec.Code != code || r.Status != status || r.Checks["database"].Status != database || r.Checks["vault"].Status != readiness.Degraded {
			t.Fatalf("%s: /readyz is %d %s (database %s, vault %s), want %d %s (database %s, vault degraded)", step,
				rec.Code, r.Status, r.Checks["database"].Status, r.Checks["vault"].Status, code, status, database)
		}
		return r
	}
	c.Check(context.Background())
	state("checked", 200, "degraded", readiness.OK)
	checks := len(serving)

	clk.Advance(time.Second)
	c.DatabaseUnavailable(errors.New("a request could not reach it"))
	r := state("a request found the database away", 503, "not ready", readiness.Down)
	if db := r.Checks["database"]; db.Error == "" || db.Since == nil || !db.Since.Equal(clk.Now()) || !r.CheckedAt.Equal(clk.Now()) {
		t.Fatalf("the database is down with error %q since %v, checked at %s", db.Error, db.Since, r.CheckedAt)
	}
	if len(serving) != checks+1 || serving[len(serving)-1] {
		t.Fatalf("gRPC health was told %v, want NOT_SERVING once more", serving)
	}
	// More failures keep the outage's start.
	clk.Advance(time.Second)
	c.DatabaseUnavailable(errors.New("again"))
	if r := state("another failure", 503, "not ready", readiness.Down); !r.Checks["database"].Since.Equal(clk.Now().Add(-time.Second)) {
		t.Fatalf("the outage's start moved to %s", r.Checks["database"].Since)
	}
	// The periodic check agrees while the ping fails, and keeps the start.
	pingErr = errors.New("dial tcp: connection refused")
	clk.Advance(time.Second)
	if r := c.Check(context.Background()); r.Ready || !r.Checks["database"].Since.Equal(clk.Now().Add(-2*time.Second)) {
		t.Fatalf("periodic check during the outage: %+v", r)
	}
	// The database is back before the next periodic check: the first
	// request it answers makes the replica ready.
	pingErr = nil
	clk.Advance(time.Second)
	c.DatabaseAnswered()
	r = state("a request got an answer", 200, "degraded", readiness.OK)
	if r.Checks["database"].Error != "" || r.Checks["database"].Since != nil {
		t.Fatalf("the database is up with %+v", r.Checks["database"])
	}
	if !serving[len(serving)-1] {
		t.Fatal("gRPC health is not SERVING again")
	}
	told := len(serving)
	c.DatabaseAnswered() // nothing new: not even the health service hears of it
	if len(serving) != told {
		t.Fatal("a success while ready was reported")
	}
	// A new outage starts a new failing_since.
	clk.Advance(time.Minute)
	c.DatabaseUnavailable(errors.New("away again"))
	if r := state("a second outage", 503, "not ready", readiness.Down); !r.Checks["database"].Since.Equal(clk.Now()) {
		t.Fatalf("the second outage started at %s", r.Checks["database"].Since)
	}
	// The periodic check still has its say: the ping succeeds.
	c.Check(context.Background())
	state("checked again", 200, "degraded", readiness.OK)
}
