package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/readiness"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var settings = ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestAServerWithoutVaultServesEveryEdgeAndStopsCleanly runs the server as
// `coalitiond serve --dev-auth` does, on its own database URL, and checks
// what a load balancer, Prometheus and a REST client see; ending its
// context stops it without error and frees its ports.
func TestAServerWithoutVaultServesEveryEdgeAndStopsCleanly(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	srv, err := server.Config{DatabaseURL: pgtest.NewURL(t), GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		AdminAddr: "127.0.0.1:0", DevAuth: true, PhoneHashKey: servertest.PhoneHashKey, Settings: settings}.Complete(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "coalition.v1.PartnerService"})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", res, err)
	}
	base := "http://" + srv.HTTPAddr()
	if srv.PublicURL() != base {
		t.Fatalf("public URL %q, want the HTTP address %q", srv.PublicURL(), base)
	}
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	// The first check runs as Run starts; until then /readyz says starting.
	admin := "http://" + srv.AdminAddr()
	var ready readiness.Report
	for deadline := time.Now().Add(10 * time.Second); !ready.Ready && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, body := get(t, admin+"/readyz")
		json.Unmarshal([]byte(body), &ready)
	}
	if !ready.Ready || ready.Checks["database"].Status != readiness.OK || ready.Checks["vault"].Status != "" {
		t.Fatalf("admin /readyz = %+v", ready)
	}
	if code, body := get(t, admin+"/metrics"); code != 200 || !strings.Contains(body, "coalition_ledger_transaction_retries") {
		t.Fatalf("admin /metrics = %d, without the ledger's retries", code)
	}
	// The public port says ready to a load balancer, and nothing else.
	if code, body := get(t, base+"/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("public /readyz = %d %q", code, body)
	}
	if code, _ := get(t, base+"/metrics"); code != 404 {
		t.Fatalf("public /metrics = %d, want 404", code)
	}
	if code, body := get(t, base+"/v1/partner/balance?member.card_number=7700000000000000"); code != 401 {
		t.Fatalf("REST without credentials = %d %s, want 401", code, body)
	}

	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("HTTP still answers after the server stopped")
	}
}

// TestAServerRefusesToStartWithoutCredentialsWorthTheName checks the
// configurations that would let anyone in, or hash phone numbers with a
// guessable key.
func TestAServerRefusesToStartWithoutCredentialsWorthTheName(t *testing.T) {
	url := pgtest.NewURL(t)
	for _, c := range []struct {
		name string
		cfg  server.Config
		want string
	}{
		{"no authentication", server.Config{GRPCAddr: "127.0.0.1:0"}, "no partner authentication is configured"},
		{"dev credentials beyond loopback", server.Config{GRPCAddr: "0.0.0.0:0", DevAuth: true, PhoneHashKey: servertest.PhoneHashKey},
			"listen on a loopback address, not 0.0.0.0:0"},
		{"a short phone hash key", server.Config{GRPCAddr: "127.0.0.1:0", DevAuth: true, PhoneHashKey: []byte("short")},
			"--phone-hash-key must be at least 32 bytes"},
		{"plain HTTP beyond loopback", server.Config{GRPCAddr: "127.0.0.1:0", DevAuth: true, PhoneHashKey: servertest.PhoneHashKey,
			HTTPAddr: "0.0.0.0:0"}, "--http-listen 0.0.0.0:0: REST and the web pages would carry API keys and sessions in plain HTTP"},
		{"a profiler beyond loopback", server.Config{GRPCAddr: "127.0.0.1:0", DevAuth: true, PhoneHashKey: servertest.PhoneHashKey,
			PprofAddr: "0.0.0.0:0"}, "the profiler listens on loopback only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.DatabaseURL, c.cfg.Settings = url, settings
			srv, err := c.cfg.Complete(context.Background())
			if err == nil {
				srv.Close()
				t.Fatalf("started; want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want %q", err, c.want)
			}
		})
	}
}
