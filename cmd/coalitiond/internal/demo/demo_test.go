package demo

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestDemoOnEveryDayOfTheWeek seeds the demo with the clock on each day of
// the week and on both sides of midnight in the coalition's zone: the seed
// always succeeds, clears the business day before the clock's, keeps the
// ledger's invariants, and Anna's balance is what the rules give that day:
// 50 welcome + 48 for coffee (10 %, doubled by the winter promotion, which
// is for coffee only) + 90 for dinner (5 %) + 100 of the joint promotion,
// unlocked by 75 at the cinema (the 5 % step) − 100 at the fuel station
// + 200 for referring Vera = 463, and 30 more from the cinema's weekend
// bonus when her cinema visit, yesterday, falls on a Saturday or a Sunday.
func TestDemoOnEveryDayOfTheWeek(t *testing.T) {
	moscow, err := time.LoadLocation(Settings.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	at := func(day, hour, min, sec int) time.Time { return time.Date(2026, 11, day, hour, min, sec, 0, moscow) }
	cases := []struct {
		name      string
		now       time.Time
		yesterday string
		anna      coalition.Points
	}{
		{"Monday noon", at(23, 12, 0, 0), "2026-11-22", 493}, // yesterday a Sunday
		{"Tuesday noon", at(24, 12, 0, 0), "2026-11-23", 463},
		{"Wednesday noon", at(25, 12, 0, 0), "2026-11-24", 463},
		{"Thursday noon", at(26, 12, 0, 0), "2026-11-25", 463},
		{"Friday noon", at(27, 12, 0, 0), "2026-11-26", 463},
		{"Saturday noon", at(28, 12, 0, 0), "2026-11-27", 463},
		{"Sunday noon", at(29, 12, 0, 0), "2026-11-28", 493}, // yesterday a Saturday
		{"Friday, a second to midnight", at(27, 23, 59, 59), "2026-11-26", 463},
		{"Saturday, a second past midnight", at(28, 0, 0, 1), "2026-11-27", 463},
		{"Sunday, a second to midnight", at(29, 23, 59, 59), "2026-11-28", 493},
		// CI once ran here: 22:32 UTC on a Sunday is 01:32 on Monday in Moscow.
		{"Monday, 01:32 in Moscow", time.Date(2026, 11, 29, 22, 32, 0, 0, time.UTC), "2026-11-29", 493},
		{"Monday, a second past midnight", at(30, 0, 0, 1), "2026-11-29", 493},
		{"Tuesday, a second past midnight", at(24, 0, 0, 1), "2026-11-23", 463},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			runner, err := txn.New(ctx, pgtest.NewDB(t))
			if err != nil {
				t.Fatal(err)
			}
			hasher, err := phone.NewHMAC(bytes.Repeat([]byte{7}, 32))
			if err != nil {
				t.Fatal(err)
			}
			clk := clock.NewManual(tc.now)
			env := NewEnv(runner, hasher, Settings, clk.Now)
			seeded, err := Seed(ctx, env)
			if err != nil {
				t.Fatalf("seed at %s: %v", tc.now, err)
			}
			if len(seeded) != 3 || seeded[0].Name != "Anna" {
				t.Fatalf("seeded %v", seeded)
			}
			b, err := env.Today.BalanceOf(ctx, ledger.MemberRef{ID: seeded[0].ID})
			if err != nil {
				t.Fatal(err)
			}
			if b.Available != tc.anna || b.Locked != 0 {
				t.Fatalf("Anna has %d points (%d locked), want %d", b.Available, b.Locked, tc.anna)
			}
			windows, err := clearing.New(clearing.Config{Tx: runner, Clock: clk.Now}).Windows(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			var cleared []string
			for _, w := range windows {
				if w.Cleared {
					cleared = append(cleared, w.BusinessDate.Format(time.DateOnly))
				}
			}
			if len(cleared) != 1 || cleared[0] != tc.yesterday {
				t.Fatalf("cleared windows %v, want only yesterday %s", cleared, tc.yesterday)
			}
			breaches, err := env.Today.Check(ctx, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(breaches) > 0 {
				t.Fatalf("ledger check: %v", breaches)
			}
			// A second seed finds the partners and adds nothing.
			again, err := Seed(ctx, env)
			if err != nil || len(again) != 0 {
				t.Fatalf("second seed: %v, %v", again, err)
			}
		})
	}
}
