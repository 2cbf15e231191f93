package rpc_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgcluster"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/schema"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/gateway/rpc"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/readiness"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// ownPostgres is a PostgreSQL of the test's own, which it can crash and
// start again on the same port with the same data, as an outage does.
type ownPostgres struct {
	t       *testing.T
	cluster *pgcluster.Cluster
}

func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return &ownPostgres{t: t, cluster: c}
}

// stop takes the database away as a power cut does.
func (db *ownPostgres) stop() {
	db.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.cluster.Crash(ctx); err != nil {
		db.t.Fatal(err)
	}
}

func (db *ownPostgres) start() {
	db.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := db.cluster.Restart(ctx); err != nil {
		db.t.Fatal(err)
	}
}

// pool is the server's pool on a migrated database.
func (db *ownPostgres) pool() *pgxpool.Pool {
	db.t.Helper()
	ctx := context.Background()
	cfg, err := txn.PoolConfig(db.cluster.URL("postgres"))
	if err != nil {
		db.t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		db.t.Fatal(err)
	}
	db.t.Cleanup(pool.Close)
	if _, err := schema.Migrate(ctx, pool); err != nil {
		db.t.Fatal(err)
	}
	return pool
}

// retryServiceConfig is the service config the README gives partners'
// clients, read from the README so that what it shows is what is tested.
func retryServiceConfig(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```json\n(\\{\n  \"methodConfig\".*?\n\\})\n```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("the README shows no service config (a ```json block starting with methodConfig)")
	}
	return string(m[1])
}

// callCounter counts a client's attempts of its calls, retries included.
type callCounter struct{ atomic.Int64 }

func (c *callCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c *callCounter) HandleRPC(_ context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.Begin); ok {
		c.Add(1)
	}
}
func (c *callCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (c *callCounter) HandleConn(context.Context, stats.ConnStats)                       {}

// readyz is the server's detailed readiness, as an operator reads it on
// the admin listener: the status and the database's state.
func (s *served) readyz(t *testing.T) (status, database string) {
	t.Helper()
	res, err := http.Get("http://" + s.AdminAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r readiness.Report
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r.Status, r.Checks["database"].Status
}

// wantUnavailable asserts that a call failed with UNAVAILABLE, saying which
// dependency was away.
func wantUnavailable(t *testing.T, what string, err error, reason string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.Unavailable {
		t.Fatalf("%s: %v, want Unavailable", what, err)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == reason && info.GetDomain() == rpc.ErrorDomain {
			return
		}
	}
	t.Fatalf("%s: %v carries no ErrorInfo %s", what, err, reason)
}

// While PostgreSQL is stopped, every service answers UNAVAILABLE (which
// the README's service config retries), not Internal; when it is back, the
// same request with the same idempotency key goes through, once.
func TestDatabaseOutageIsUnavailableAndTheSameRequestLaterWritesOnce(t *testing.T) {
	db := startOwnPostgres(t)
	attempts := &callCounter{}
	s := serve(t, db.pool(), server.Config{AdminAddr: "127.0.0.1:0"},
		grpc.WithDefaultServiceConfig(retryServiceConfig(t)), grpc.WithStatsHandler(attempts))
	m, err := s.partner.EnrollMember(as(t, "cafe"), &pb.EnrollMemberRequest{IdempotencyKey: "enroll"})
	if err != nil {
		t.Fatal(err)
	}
	// The first periodic check runs as the server starts.
	for began := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if status, _ := s.readyz(t); status == "ready" {
			break
		}
		if time.Since(began) > 30*time.Second {
			t.Fatal("the server is not ready 30 s after it started")
		}
	}
	accrue := &pb.AccrueRequest{IdempotencyKey: "accrue-1", Member: byID(m.GetMember()), Purchase: rub(10_000), OrderId: "order-1"}

	db.stop()
	attempts.Store(0)
	_, err = s.partner.Accrue(as(t, "cafe"), accrue)
	wantUnavailable(t, "accrue", err, rpc.ReasonDatabaseUnavailable)
	if n := attempts.Load(); n != 5 {
		t.Fatalf("the client sent the accrual %d times with the service config, want 5", n)
	}
	for name, call := range map[string]func() error{
		"enroll": func() error {
			return errOf(s.partner.EnrollMember(as(t, "cafe"), &pb.EnrollMemberRequest{IdempotencyKey: "enroll-2"}))
		},
		"balance": func() error {
			return errOf(s.partner.GetBalance(as(t, "cinema"), &pb.GetBalanceRequest{Member: byID(m.GetMember())}))
		},
		"settlement windows": func() error { return errOf(s.settle.ListWindows(as(t, "fuel"), &pb.ListWindowsRequest{})) },
		"rules":              func() error { return errOf(s.admin.ListRuleSets(as(t, "role=operator"), &pb.ListRuleSetsRequest{})) },
	} {
		wantUnavailable(t, name, call(), rpc.ReasonDatabaseUnavailable)
	}
	// The first request that could not reach the database made the
	// replica unready, without waiting for the next periodic check.
	if status, database := s.readyz(t); status != "not ready" || database != readiness.Down {
		t.Fatalf("during the outage /readyz says %s, database %s", status, database)
	}

	db.start()
	res, err := s.partner.Accrue(as(t, "cafe"), accrue)
	if err != nil {
		t.Fatalf("the same accrual after the outage: %v", err)
	}
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM transactions WHERE order_id = 'order-1'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 || res.GetPoints() != 5 {
		t.Fatalf("after the outage the order has %d transactions, %d points; want 1, 5", n, res.GetPoints())
	}
	// And the first it answered made it ready again.
	if status, database := s.readyz(t); status != "ready" || database != readiness.OK {
		t.Fatalf("after the outage /readyz says %s, database %s", status, database)
	}
}

// Connections the database drops (pg_terminate_backend: an administrator,
// a failover, a restart) answer UNAVAILABLE, and the next request gets a
// fresh connection.
func TestDroppedDatabaseConnectionsAreUnavailable(t *testing.T) {
	cfg, err := txn.PoolConfig(pgtest.NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	// Hand out idle connections without a ping first, so that a dropped
	// one is found out by the request itself.
	cfg.MaxConns = 2
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := serve(t, pool, server.Config{})
	m, err := s.partner.EnrollMember(as(t, "cafe"), &pb.EnrollMemberRequest{IdempotencyKey: "enroll"})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgxpool.New(context.Background(), cfg.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var killed int
	if err := admin.QueryRow(context.Background(), `
		SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&killed); err != nil || killed == 0 {
		t.Fatalf("terminated %d connections: %v", killed, err)
	}
	for i := 0; ; i++ {
		_, err := s.partner.GetBalance(as(t, "cafe"), &pb.GetBalanceRequest{Member: byID(m.GetMember())})
		if err == nil && i > 0 {
			break
		}
		if i == 0 || err != nil {
			wantUnavailable(t, "balance on a dropped connection", err, rpc.ReasonDatabaseUnavailable)
		}
		if i > killed {
			t.Fatalf("still failing after %d requests", i)
		}
	}
}

// counts is what a refused request must not change.
func (s *served) counts(t *testing.T) [3]int {
	t.Helper()
	var c [3]int
	if err := s.pool.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM members), (SELECT count(*) FROM transactions), (SELECT count(*) FROM idempotency_keys)`).Scan(
		&c[0], &c[1], &c[2]); err != nil {
		t.Fatal(err)
	}
	return c
}

// Phone numbers are hashed with a Vault transit key. While Vault is frozen
// (SIGSTOP: it takes connections and answers nothing) or stopped, the
// requests that need a phone's hash answer UNAVAILABLE within the hash's
// own time, not at the client's deadline, and write nothing; the others
// go on.
func TestVaultAwayMakesPhoneRequestsUnavailableWithinTheirTime(t *testing.T) {
	vs, _, _ := servertest.Vault(t)
	const hashTime = time.Second
	s := serve(t, pgtest.NewDB(t), server.Config{TLSHosts: []string{"localhost"},
		Vault: server.VaultConfig{Addr: vs.Addr, Token: vs.Token, HashTimeout: hashTime}})
	const phone = "+79165550101"
	enrolled, err := s.partner.EnrollMember(as(t, "cafe"), &pb.EnrollMemberRequest{IdempotencyKey: "enroll", Phone: phone})
	if err != nil {
		t.Fatal(err)
	}
	m := enrolled.GetMember()
	needPhone := map[string]func() error{
		"lookup by phone": func() error {
			return errOf(s.partner.LookupMember(as(t, "cafe"), &pb.LookupMemberRequest{Member: byPhone(phone)}))
		},
		"enrol with a phone": func() error {
			return errOf(s.partner.EnrollMember(as(t, "cafe"), &pb.EnrollMemberRequest{IdempotencyKey: "enroll-2", Phone: "+79165550102"}))
		},
		"accrue by phone": func() error {
			return errOf(s.partner.Accrue(as(t, "cafe"), &pb.AccrueRequest{IdempotencyKey: "a-phone", Member: byPhone(phone),
				Purchase: rub(10_000), OrderId: "o-phone"}))
		},
	}
	away := func(how string) {
		t.Helper()
		before := s.counts(t)
		for name, call := range needPhone {
			began := time.Now()
			err := call()
			wantUnavailable(t, "Vault "+how+": "+name, err, rpc.ReasonVaultUnavailable)
			// The hash's own time, with room for a loaded machine; the
			// client's deadline is 30 s.
			if took := time.Since(began); took > hashTime+5*time.Second {
				t.Fatalf("%s: %s answered after %s", how, name, took)
			}
		}
		if after := s.counts(t); after != before {
			t.Fatalf("%s: refused requests wrote: %v → %v", how, before, after)
		}
		// What needs no phone hash goes on.
		if _, err := s.partner.Accrue(as(t, "cafe"), &pb.AccrueRequest{IdempotencyKey: "a-" + how, Member: byID(m),
			Purchase: rub(10_000), OrderId: "o-" + how}); err != nil {
			t.Fatalf("%s: accrue by member id: %v", how, err)
		}
	}

	if err := vs.Pause(); err != nil {
		t.Fatal(err)
	}
	away("frozen")
	if err := vs.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := needPhone["lookup by phone"](); err != nil {
		t.Fatalf("Vault back: %v", err)
	}
	vs.Stop()
	away("stopped")
}
