// Package demo seeds a coalition for dev mode: three partners of different
// kinds and a few members with history, all posted through the ledger like
// real traffic, so the demo data obeys every ledger invariant.
package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
)

// Settings are the demo coalition's terms: roubles, Moscow business days,
// one point worth 1.00 RUB; the operator takes 1 % of points burned across
// partners, 0.5 % of points issued and 20 % of breakage.
var Settings = ledger.Settings{Name: "Demo Coalition", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100,
	InterchangeFeeBP: 100, IssueFeeBP: 50, BreakageShareBP: 2000}

// Partners of the demo, by code.
var Partners = []partners.Partner{
	{Code: "cafe", Name: "Coffee Corner", Kind: "café", EarnRateBP: 500, PointsTTLDays: 365},
	{Code: "cinema", Name: "Star Cinema", Kind: "cinema", EarnRateBP: 300, PointsTTLDays: 365},
	{Code: "fuel", Name: "FuelGo", Kind: "fuel station", EarnRateBP: 100, ReturnWindow: 14 * 24 * time.Hour, PointsTTLDays: 365},
}

// Member is a seeded member, for the dev mode banner.
type Member struct {
	Name  string
	Phone string
	ledger.Member
}

// Seed adds the demo partners and members unless partners exist already,
// and returns the members it enrolled (none on a second run).
func Seed(ctx context.Context, l *ledger.Ledger, reg *partners.Register) ([]Member, error) {
	existing, err := reg.List(ctx)
	if err != nil {
		return nil, err
	}
	if len(existing) > 0 {
		return nil, nil
	}
	ids := map[string]coalition.PartnerID{}
	for _, p := range Partners {
		added, err := reg.Add(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("seed partner %s: %w", p.Code, err)
		}
		ids[p.Code] = added.ID
	}
	rub := func(minor int64) coalition.Money { return coalition.Money{Minor: minor, Currency: "RUB"} }
	var out []Member
	step := 0
	key := func() string { step++; return fmt.Sprintf("demo-seed-%d", step) }
	enroll := func(name, phone, at string) (Member, error) {
		m, err := l.Enroll(ctx, ids[at], ledger.Enrollment{IdempotencyKey: key(), Phone: phone})
		if err != nil {
			return Member{}, fmt.Errorf("seed member %s: %w", name, err)
		}
		out = append(out, Member{Name: name, Phone: phone, Member: m})
		return out[len(out)-1], nil
	}
	accrue := func(m Member, at string, minor int64) (ledger.AccrueResult, error) {
		return l.Accrue(ctx, ids[at], ledger.Accrual{IdempotencyKey: key(), Member: ledger.MemberRef{ID: m.ID}, Purchase: rub(minor), OrderID: key()})
	}
	redeem := func(m Member, at string, points int64) (ledger.Transaction, error) {
		return l.Redeem(ctx, ids[at], ledger.Redemption{IdempotencyKey: key(), Member: ledger.MemberRef{ID: m.ID}, Points: points, OrderID: key()})
	}
	anna, err := enroll("Anna", "+79160000001", "cafe")
	if err != nil {
		return nil, err
	}
	boris, err := enroll("Boris", "+79160000002", "cinema")
	if err != nil {
		return nil, err
	}
	vera, err := enroll("Vera", "+79160000003", "fuel")
	if err != nil {
		return nil, err
	}
	steps := []func() error{
		// Anna earns at the café and the cinema, spends at the fuel station.
		func() error { _, err := accrue(anna, "cafe", 240_000); return err },   // 120 points
		func() error { _, err := accrue(anna, "cinema", 150_000); return err }, // 45 points
		func() error { _, err := redeem(anna, "fuel", 100); return err },
		// Boris fills up (pending for 14 days) and goes to the cinema.
		func() error { _, err := accrue(boris, "fuel", 500_000); return err },   // 50 points, pending
		func() error { _, err := accrue(boris, "cinema", 300_000); return err }, // 90 points
		// Boris holds points for a cinema ticket that is still being paid.
		func() error {
			_, err := l.Authorize(ctx, ids["cinema"], ledger.Authorization{IdempotencyKey: key(), Member: ledger.MemberRef{ID: boris.ID}, Points: 40, OrderID: key(), TTL: 7 * 24 * time.Hour})
			return err
		},
		// Vera buys coffee twice, returns half of the second purchase, and
		// spends at the cinema.
		func() error { _, err := accrue(vera, "cafe", 100_000); return err }, // 50 points
		func() error {
			r, err := accrue(vera, "cafe", 60_000) // 30 points
			if err != nil {
				return err
			}
			half := rub(30_000)
			_, err = l.Refund(ctx, ids["cafe"], ledger.Refund{IdempotencyKey: key(), TransactionID: r.Transaction.ID, Purchase: &half})
			return err
		},
		func() error { _, err := redeem(vera, "cinema", 20); return err },
	}
	for i, s := range steps {
		if err := s(); err != nil {
			return nil, fmt.Errorf("seed history step %d: %w", i+1, err)
		}
	}
	return out, nil
}
