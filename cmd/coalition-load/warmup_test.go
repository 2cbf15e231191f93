package main

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/gateway/rpc"
)

// oneServer serves a coalition of two partners on a fresh database and
// returns its address and the database.
func oneServer(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
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
	reg := partners.New(partners.Config{Tx: runner})
	for _, code := range []string{"cafe", "cinema"} {
		// 10 %: the smallest purchase the generator makes earns a point.
		if _, err := reg.Add(ctx, partners.Partner{Code: code, Name: code, Kind: code, EarnRateBP: 1000, PointsTTLDays: 365}); err != nil {
			t.Fatal(err)
		}
	}
	srv, _, err := rpc.NewServer(rpc.Options{Ledger: l, Partners: reg, Auth: &rpc.DevAuthenticator{Partners: reg}})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), pool
}

// TestWarmupMakesRegularsWhoseCardsTheNextRunReuses warms four members up
// with 25 accruals each, as -warmup does before a timed run: each member
// then has 25 purchases and 25 open lots. A second run given the same
// cards file trades with those members and enrolls nobody.
func TestWarmupMakesRegularsWhoseCardsTheNextRunReuses(t *testing.T) {
	ctx := context.Background()
	addr, pool := oneServer(t)
	cards := filepath.Join(t.TempDir(), "cards")
	cfg := Config{Targets: []string{addr}, Partners: []string{"cafe", "cinema"}, Concurrency: 3, Members: 4, Warmup: 25, CardsFile: cards}
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.WarmedUp != 100 || rep.Requests != 0 {
		t.Fatalf("warm-up only: %d accruals warmed up, %d requests; want 100 and 0", rep.WarmedUp, rep.Requests)
	}
	rows, err := pool.Query(ctx, `
		SELECT (SELECT count(*) FROM transactions AS t WHERE t.member_id = m.id AND t.kind = 'earn'),
		       (SELECT count(*) FROM transactions AS t WHERE t.member_id = m.id AND t.kind = 'earn' AND t.partner_id = p.id),
		       (SELECT count(*) FROM lots AS l WHERE l.member_id = m.id AND l.remaining > 0)
		FROM members AS m, partners AS p WHERE p.code = 'cafe'`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var earns, atCafe, open int
		if err := rows.Scan(&earns, &atCafe, &open); err != nil {
			t.Fatal(err)
		}
		if earns != 25 || open != 25 || atCafe != 13 {
			t.Errorf("a member has %d purchases (%d at the café) and %d open lots; want 25 (13, the partners in turn) and 25", earns, atCafe, open)
		}
		n++
	}
	if rows.Err() != nil || n != 4 {
		t.Fatalf("%d members (%v), want 4", n, rows.Err())
	}

	cfg.Warmup, cfg.Requests, cfg.Members, cfg.Mix = 0, 40, 99, map[string]int{"accrue": 1}
	if rep, err = Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if rep.Unexpected() > 0 || rep.Members != 4 {
		t.Fatalf("second run: %v answers, %d members; want only OK and the 4 of the file", rep.ByCode, rep.Members)
	}
	var members, earns int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM members), (SELECT count(*) FROM transactions WHERE kind = 'earn')`).Scan(&members, &earns); err != nil {
		t.Fatal(err)
	}
	if members != 4 || earns != 140 {
		t.Fatalf("%d members and %d purchases after the second run; want 4 and 140", members, earns)
	}
}
