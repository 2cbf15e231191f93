package main

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/gateway/rpc"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestReplicasShareOneDatabase runs three coalitiond replicas on one
// PostgreSQL, sends them a bounded partner workload round robin, and checks
// that nothing failed but fair refusals, that the ledger is sound, and that
// the three replicas' clearing schedulers, running at once, cleared the day
// exactly once.
func TestReplicasShareOneDatabase(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	runner, err := txn.New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	hasher, _ := phone.NewHMAC([]byte("test-only phone hash key, 32+ bytes long"))
	l := ledger.New(ledger.Config{Tx: runner, Phones: hasher})
	if err := l.Bootstrap(ctx, ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100}); err != nil {
		t.Fatal(err)
	}
	reg := partners.New(runner, nil)
	for _, code := range []string{"cafe", "cinema", "fuel"} {
		if _, err := reg.Add(ctx, partners.Partner{Code: code, Name: code, Kind: code, EarnRateBP: 300, PointsTTLDays: 365}); err != nil {
			t.Fatal(err)
		}
	}
	var targets []string
	var clearings []*clearing.Clearing
	for range 3 {
		// Each replica has its own objects, as separate processes would.
		r, err := txn.New(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		c := clearing.New(clearing.Config{Tx: r, Clock: func() time.Time { return time.Now().Add(48 * time.Hour) }})
		clearings = append(clearings, c)
		srv, _, err := rpc.NewServer(rpc.Options{Ledger: ledger.New(ledger.Config{Tx: r, Phones: hasher}), Settlement: c,
			Auth: &rpc.DevAuthenticator{Partners: partners.New(r, nil)}})
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(lis)
		t.Cleanup(srv.Stop)
		targets = append(targets, lis.Addr().String())
	}
	rep, err := Run(ctx, Config{Targets: targets, Partners: []string{"cafe", "cinema", "fuel"}, Requests: 1500, Concurrency: 12, Members: 60})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("3 replicas:\n%s", rep)
	if rep.Unexpected() > 0 || rep.ByCode[codes.OK] == 0 {
		t.Fatalf("unexpected answers: %v", rep.ByCode)
	}
	breaches, err := l.Check(ctx, time.Minute)
	if err != nil || len(breaches) > 0 {
		t.Fatalf("ledger check: %v %v", breaches, err)
	}
	// Midnight has passed for all three schedulers at once.
	var wg sync.WaitGroup
	for _, c := range clearings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.RunDue(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var windows, reports int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM settlement_windows WHERE status = 'closed'`).Scan(&windows); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM clearing_reports`).Scan(&reports); err != nil {
		t.Fatal(err)
	}
	if windows != 1 || reports != 1 {
		t.Fatalf("%d windows closed, %d reports; want the day cleared exactly once", windows, reports)
	}
}
