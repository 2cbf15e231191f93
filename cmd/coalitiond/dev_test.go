package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/coalition-loyalty/coalition/cmd/coalitiond/internal/demo"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/readiness"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// TestDevModeServesTheDemoAndLeavesNothingRunning runs `coalitiond dev` as a
// person would (in-process), connects as the café with the certificate
// bundle dev mode issued it through Vault, reads a demo balance by phone
// (hashed by Vault), stops it as Ctrl-C does, and checks that PostgreSQL and
// Vault are gone; a second start reuses both without seeding twice.
func TestDevModeServesTheDemoAndLeavesNothingRunning(t *testing.T) {
	dir, err := os.MkdirTemp("", "coalition-dev-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // the postgres user must reach it when tests run as root
	t.Cleanup(func() { os.RemoveAll(dir) })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := httpLis.Addr().String()
	httpLis.Close()
	adminLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := adminLis.Addr().String()
	adminLis.Close()
	// The business clock starts on a Wednesday at noon in Moscow, whatever
	// the machine's date: the demo's yesterday is then a Tuesday, outside
	// the weekend promotion. TestDemoOnEveryDayOfTheWeek covers the others.
	moscow, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	base, started := time.Date(2026, 11, 25, 12, 0, 0, 0, moscow), time.Now()
	now := func() time.Time { return base.Add(time.Since(started)) }
	cfg := options{Config: server.Config{GRPCAddr: addr, HTTPAddr: httpAddr, AdminAddr: adminAddr, Settings: demo.Settings, SweepInterval: time.Second,
		ClearingInterval: time.Minute, TLSHosts: []string{"localhost", "127.0.0.1"}, Now: now}}

	var envs [3]string
	for run := 1; run <= 2; run++ {
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		var banner strings.Builder
		go func() { done <- runDev(ctx, cfg, dir, &banner) }()
		var conn *grpc.ClientConn
		for deadline := time.Now().Add(120 * time.Second); conn == nil && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			select {
			case err := <-done:
				stop()
				t.Fatalf("run %d: dev mode stopped: %v", run, err)
			default:
			}
			bundle := filepath.Join(dir, "partners", "cafe")
			cert, err := tls.LoadX509KeyPair(filepath.Join(bundle, "cert.pem"), filepath.Join(bundle, "key.pem"))
			if err != nil {
				continue // not issued yet
			}
			ca, _ := os.ReadFile(filepath.Join(bundle, "ca.pem"))
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(ca)
			c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
				Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "localhost"})))
			if err != nil {
				t.Fatal(err)
			}
			res, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{Service: "coalition.v1.PartnerService"})
			if err == nil && res.Status == healthpb.HealthCheckResponse_SERVING {
				conn = c
			} else {
				c.Close()
			}
		}
		if conn == nil {
			stop()
			t.Fatalf("run %d: dev mode did not start serving: %v", run, <-done)
		}
		b, err := coalitionv1.NewPartnerServiceClient(conn).GetBalance(ctx, &coalitionv1.GetBalanceRequest{
			Member: &coalitionv1.MemberRef{Ref: &coalitionv1.MemberRef_Phone{Phone: "+79160000001"}}})
		if err != nil {
			t.Fatalf("run %d: demo member's balance: %v", run, err)
		}
		// Anna: 50 welcome + 48 for coffee (10 %, doubled by the winter
		// promotion, which is for coffee only) + 90 for dinner (5 %) + 100
		// of the joint promotion, unlocked by 75 at the cinema (the 5 %
		// step) − 100 at the fuel station + 200 for referring Vera.
		if b.Balance.Available != 463 || b.Balance.Locked != 0 {
			t.Fatalf("run %d: Anna has %d points (%d locked), want 463 (seeded once)", run, b.Balance.Available, b.Balance.Locked)
		}
		// The demo's first day is yesterday, already cleared: the café's
		// statement shows what it owes for its points spent elsewhere
		// (Anna's at the fuel station) and is owed for Boris's spent at it.
		settle := coalitionv1.NewSettlementServiceClient(conn)
		ws, err := settle.ListWindows(ctx, &coalitionv1.ListWindowsRequest{})
		if err != nil {
			t.Fatalf("run %d: windows: %v", run, err)
		}
		var cleared string
		for _, w := range ws.GetWindows() {
			if w.GetCleared() {
				cleared = w.GetBusinessDate()
			}
		}
		if want := "2026-11-24"; cleared != want {
			t.Fatalf("run %d: cleared window %q, want yesterday %s, among %v", run, cleared, want, ws.GetWindows())
		}
		st, err := settle.GetPartnerStatement(ctx, &coalitionv1.GetPartnerStatementRequest{BusinessDate: cleared, Partner: "cafe"})
		if err != nil {
			t.Fatalf("run %d: the café's statement: %v", run, err)
		}
		flows := map[string]int64{}
		for _, line := range st.GetStatement().GetLines() {
			if line.GetReportSection() == coalitionv1.ReportSection_REPORT_SECTION_FLOW && line.GetLineKind() == coalitionv1.LineKind_LINE_KIND_BURN {
				flows[line.GetPayer()+"→"+line.GetPayee()] += line.GetPoints()
			}
		}
		// Anna's 100 at the fuel station came first from her earliest lots
		// to expire, all of them the café's; Boris spent 60 cinema points
		// at the café.
		if flows["cafe→fuel"] == 0 || flows["cinema→cafe"] != 60 {
			t.Fatalf("run %d: the café's flows yesterday: %v", run, flows)
		}
		// Boris is Silver; coffee at the café earns the base rate, his tier's
		// bonus and the winter promotion, each a line of the receipt.
		if run == 1 {
			acc, err := coalitionv1.NewPartnerServiceClient(conn).Accrue(ctx, &coalitionv1.AccrueRequest{
				IdempotencyKey: "dev-test-coffee", OrderId: "dev-test-coffee", Category: "coffee",
				Member:   &coalitionv1.MemberRef{Ref: &coalitionv1.MemberRef_Phone{Phone: "+79160000002"}},
				Purchase: &coalitionv1.Money{Minor: 40_000, Currency: "RUB"}})
			if err != nil {
				t.Fatalf("accrue for Boris: %v", err)
			}
			var got []string
			for _, l := range acc.GetBreakdown() {
				got = append(got, fmt.Sprintf("%s/%s:%d@%s", l.GetRule(), l.GetRef(), l.GetPoints(), l.GetFunder()))
			}
			// 10 % of 400.00 = 40; Silver × 1.25: +10; winter coffee: +40.
			if want := "base/:40@cafe tier/silver:10@cafe promotion/winter-coffee:40@cafe"; strings.Join(got, " ") != want {
				t.Fatalf("Boris's receipt: %v, want %s", got, want)
			}
			if acc.GetTier() != "silver" || acc.GetRuleVersion() != "rules/v1" {
				t.Fatalf("tier %q, version %q", acc.GetTier(), acc.GetRuleVersion())
			}
		}
		// Probes and metrics, as an operator and Prometheus see them on the
		// admin port; REST stays plain HTTP on loopback in dev mode.
		var ready readiness.Report
		var readyBody string
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && ready.Status != "ready"; time.Sleep(200 * time.Millisecond) {
			if res, err := http.Get("http://" + adminAddr + "/readyz"); err == nil {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				readyBody = string(b)
				ready = readiness.Report{}
				json.Unmarshal(b, &ready)
			}
		}
		if ready.Status != "ready" || ready.Checks["database"].Status != readiness.OK || ready.Checks["vault"].Status != readiness.OK {
			t.Fatalf("run %d: /readyz says %s", run, readyBody)
		}
		for _, cred := range []string{"token", "server_certificate", "revocation_list"} {
			if ready.Checks["vault"].Credentials[cred].Status != readiness.OK {
				t.Fatalf("run %d: /readyz says %s", run, readyBody)
			}
		}
		if res, err := http.Get("http://" + httpAddr + "/healthz"); err != nil || res.StatusCode != 200 {
			t.Fatalf("run %d: REST's /healthz over plain HTTP on loopback: %v", run, err)
		} else {
			res.Body.Close()
		}
		// The café's admin signs in to the partner portal with the
		// credential the dev folder keeps, and finds the demo's coupon offer.
		if body := devPortalPage(t, dir, "http://"+httpAddr, "/partner/offers"); !strings.Contains(body, "cafe-pastry") {
			t.Fatalf("run %d: the café's offers page has no demo coupon offer:\n%s", run, body)
		}
		// Joining by QR is on, its codes written under the dev folder.
		if res, err := http.Get("http://" + httpAddr + "/join/cafe"); err != nil || res.StatusCode != 200 {
			t.Fatalf("run %d: the café's join page: %v %v", run, res, err)
		} else {
			res.Body.Close()
		}
		res, err := http.Get("http://" + adminAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, want := range []string{"rpc_server_call_duration", "coalition_ledger_transaction_retries",
			`coalition_dependency_up{dependency="vault"`, `coalition_vault_credential_remaining_seconds{credential="server_certificate"`} {
			if !strings.Contains(string(body), want) {
				t.Fatalf("run %d: /metrics lacks %s", run, want)
			}
		}
		conn.Close()
		stop()
		if err := <-done; err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		assertNothingRunning(t, dir, fmt.Sprintf("run %d", run))
		// Every start's banner names the data dir as given, and the demo
		// members' cards (seeded on the first start only).
		for _, want := range []string{"source " + filepath.Join(dir, "env"), filepath.Join(dir, "partners", "cafe", "ca.pem"), "Anna   card ",
			"the codes are written to " + filepath.Join(dir, "outbox")} {
			if !strings.Contains(banner.String(), want) {
				t.Errorf("run %d: the banner lacks %q:\n%s", run, want, banner.String())
			}
		}
		env, err := os.ReadFile(filepath.Join(dir, "env"))
		if err != nil {
			t.Fatal(err)
		}
		envs[run] = string(env)
	}
	// The second start reused the first's ports: `source .dev/env` from
	// before the restart is still right.
	if envs[1] != envs[2] {
		t.Errorf("the env file changed across a restart:\n%s\nthen\n%s", envs[1], envs[2])
	}
}

// assertNothingRunning fails the test if a PostgreSQL or Vault of dir's is
// still running.
// devPortalPage signs in with the café admin's credential of the dev
// folder, as a person would with the sign-in form, and returns a portal
// page.
func devPortalPage(t *testing.T, dir, base, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "web", "cafe-admin.credential"))
	if err != nil {
		t.Fatalf("the café's portal credential: %v", err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	read := func(res *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: HTTP %d", res.Request.URL.Path, res.StatusCode)
		}
		return string(body)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(read(c.Get(base + "/signin")))
	if m == nil {
		t.Fatal("the sign-in form has no CSRF token")
	}
	read(c.PostForm(base+"/signin", url.Values{"credential": {strings.TrimSpace(string(b))}, "csrf": {html.UnescapeString(m[1])}}))
	return read(c.Get(base + path))
}

func assertNothingRunning(t *testing.T, dir, when string) {
	t.Helper()
	// pg_ctl stop returns once the server's pid file is gone, which the
	// postmaster removes a moment before its process ends: a loaded
	// machine may still list it, so each process gets a few seconds.
	for _, proc := range []string{"postgres -D " + dir, "vault server -config=" + dir} {
		var out []byte
		for range 50 {
			if out, _ = exec.Command("pgrep", "-f", proc).Output(); strings.TrimSpace(string(out)) == "" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if strings.TrimSpace(string(out)) != "" {
			t.Fatalf("%s: %q still running 5 s after stop: %s", when, proc, out)
		}
	}
}

// TestAFailedDevStartStopsWhatItStarted starts dev mode with its HTTP
// address taken: the server cannot start, and the PostgreSQL and Vault
// started before it must not be left running.
func TestAFailedDevStartStopsWhatItStarted(t *testing.T) {
	dir, err := os.MkdirTemp("", "coalition-dev-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := options{Config: server.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: taken.Addr().String(), Settings: demo.Settings,
		TLSHosts: []string{"localhost", "127.0.0.1"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err = runDev(ctx, cfg, dir, io.Discard)
	if err == nil {
		t.Fatal("dev mode started on a taken HTTP address")
	}
	t.Logf("dev mode failed to start, as it should: %v", err)
	assertNothingRunning(t, dir, "after a failed start")
}
