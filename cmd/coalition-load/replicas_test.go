package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
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
	// One business clock for the three, as one wall clock for three
	// processes; it jumps two days ahead once the workload is done.
	var ahead atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	var replicas []*servertest.Server
	var targets []string
	for range 3 {
		// Each replica has its own objects, as separate processes would;
		// their periodic jobs are off, so that the test clears when it
		// chooses.
		srv := servertest.Start(t, server.Config{
			Pool:         pool,
			DevAuth:      true,
			PhoneHashKey: servertest.PhoneHashKey,
			Settings:     ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100},
			Now:          now,
		})
		replicas = append(replicas, srv)
		targets = append(targets, srv.GRPCAddr())
	}
	for _, code := range []string{"cafe", "cinema", "fuel"} {
		if _, err := replicas[0].Partners().Add(ctx, partners.Partner{Code: code, Name: code, Kind: code, EarnRateBP: 300, PointsTTLDays: 365}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Run(ctx, Config{Targets: targets, Partners: []string{"cafe", "cinema", "fuel"}, Requests: 1500, Concurrency: 12, Members: 60})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("3 replicas:\n%s", rep)
	if rep.Unexpected() > 0 || rep.ByCode[codes.OK] == 0 {
		t.Fatalf("unexpected answers: %v", rep.ByCode)
	}
	breaches, err := replicas[0].Ledger().Check(ctx, time.Minute)
	if err != nil || len(breaches) > 0 {
		t.Fatalf("ledger check: %v %v", breaches, err)
	}
	// Midnight has passed for all three schedulers at once.
	ahead.Store(int64(48 * time.Hour))
	var wg sync.WaitGroup
	for _, r := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Clearing().RunDue(ctx); err != nil {
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
