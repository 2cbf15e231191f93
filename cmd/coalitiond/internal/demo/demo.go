// Package demo seeds a coalition for dev mode: three partners of different
// kinds and a few members with history, all posted through the ledger like
// real traffic, so the demo data obeys every ledger invariant.
package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
	"github.com/coalition-loyalty/coalition/settlement/finance"
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
	// The fuel chain's points expire 45 days after they are earned, so the
	// demo shows points expiring soon.
	{Code: "fuel", Name: "FuelGo", Kind: "fuel station", EarnRateBP: 100, ReturnWindow: 14 * 24 * time.Hour, PointsTTLDays: 45},
}

// Rules are the demo's loyalty rules, from the moment of seeding: category
// and stepped rates with caps, a welcome bonus, three tiers, a seasonal
// promotion on coffee, weekend bonuses, a joint promotion of the café and
// the cinema with a budget, a tier promotion funded by the operator, and
// referrals. (Personal offers and coupons: seedOffers.)
func Rules(now time.Time) rules.RuleSet {
	rate := func(bp int64) *int64 { return &bp }
	return rules.RuleSet{
		Note: "demo coalition",
		Partners: []rules.PartnerRules{
			{Partner: "cafe", RateBP: rate(500), Categories: []rules.CategoryRate{{Category: "coffee", RateBP: 1_000}},
				MinPurchaseMinor: 10_000, CapPerMemberDay: 500, WelcomePoints: 50},
			{Partner: "cinema", RateBP: rate(300), Steps: []rules.Step{{FromMinor: 150_000, RateBP: 500}}},
			{Partner: "fuel", PointsPer: &rules.PointsPer{Points: 1, MoneyMinor: 10_000}, CapPerPurchase: 200},
		},
		Tiers: &rules.Tiers{PeriodDays: 365, Levels: []rules.Tier{
			{Code: "silver", Name: "Silver", ThresholdMinor: 500_000, MultiplierBP: 12_500},
			{Code: "gold", Name: "Gold", ThresholdMinor: 2_000_000, MultiplierBP: 15_000},
			{Code: "platinum", Name: "Platinum", ThresholdMinor: 5_000_000, MultiplierBP: 20_000},
		}},
		Promotions: []rules.Promotion{
			{Code: "winter-coffee", Name: "Winter coffee: double points", Starts: now.Add(-time.Hour), Ends: now.AddDate(0, 2, 0),
				Partners: []string{"cafe"}, Categories: []string{"coffee"}, MultiplierBP: 10_000, FundedBy: rules.FundedByPartner},
			{Code: "weekend-movies", Name: "Weekend at the movies", Starts: now.Add(-time.Hour), Ends: now.AddDate(1, 0, 0),
				Weekdays: []string{"sat", "sun"}, Partners: []string{"cinema"}, BonusPoints: 30, FundedBy: rules.FundedByPartner},
			{Code: "dinner-and-a-movie", Name: "Dinner and a movie", Starts: now.Add(-time.Hour), Ends: now.AddDate(0, 3, 0),
				Partners: []string{"cafe"}, Categories: []string{"dinner"}, BonusPoints: 100, FundedBy: "cinema", UnlockAt: "cinema",
				BudgetPoints: 100_000},
			{Code: "gold-fuel", Name: "Gold and Platinum at the pump", Starts: now.Add(-time.Hour), Ends: now.AddDate(1, 0, 0),
				Partners: []string{"fuel"}, Tiers: []string{"gold", "platinum"}, MultiplierBP: 5_000, FundedBy: rules.FundedByOperator},
		},
		Referral: &rules.Referral{ReferrerPoints: 200, NewMemberPoints: 100, MinPurchaseMinor: 50_000},
	}
}

// Member is a seeded member, for the dev mode banner.
type Member struct {
	Name  string
	Phone string
	ledger.Member
}

// Env is what seeding needs. The demo's history spans two business days so
// that the finance pages have a cleared report from the first run: the
// first day's postings go through Yesterday, the ledger with a clock a day
// behind Today's, and Clear then closes and clears that day, which opens
// today's window for the rest.
type Env struct {
	Yesterday, Today *ledger.Ledger
	// YesterdayNow is Yesterday's clock, from which the rules take effect.
	YesterdayNow func() time.Time
	Rules        *rules.Store // with Yesterday's clock
	Partners     *partners.Register
	Settings     ledger.Settings
	Clear        func(ctx context.Context, day time.Time) error
	Finance      *finance.Finance
	Offers       *offers.Store // with Today's clock
	Now          func() time.Time
}

// NewEnv is the seeding environment of a coalition whose clock is now:
// the demo's first day is the business day before now's, cleared, so that
// the finance pages have a report to show.
func NewEnv(tx *txn.Runner, phones phone.Hasher, settings ledger.Settings, now func() time.Time) Env {
	yesterday := func() time.Time { return now().AddDate(0, 0, -1) }
	yesterdayRules := rules.NewStore(rules.StoreConfig{Tx: tx, Clock: yesterday})
	today := ledger.New(ledger.Config{Tx: tx, Phones: phones, Rules: rules.NewStore(rules.StoreConfig{Tx: tx, Clock: now}), Clock: now})
	clr := clearing.New(clearing.Config{Tx: tx, Clock: now})
	return Env{
		Yesterday:    ledger.New(ledger.Config{Tx: tx, Phones: phones, Rules: yesterdayRules, Clock: yesterday}),
		Today:        today,
		YesterdayNow: yesterday,
		Rules:        yesterdayRules,
		Partners:     partners.New(partners.Config{Tx: tx, Clock: now}),
		Settings:     settings,
		Clear: func(ctx context.Context, day time.Time) error {
			_, err := clr.Run(ctx, day)
			return err
		},
		Finance: finance.New(finance.Config{Tx: tx, Clock: now, Clearing: clr, Ledger: today}),
		Offers:  offers.New(offers.Config{Tx: tx, Clock: now}),
		Now:     now,
	}
}

// BankAccounts are the demo parties' banking details (Russian accounts,
// which have no IBAN: an account number and the bank's BIC) and payment
// terms: the café is paid weekly, the others daily.
var BankAccounts = []finance.BankAccount{
	{Party: clearing.Operator, LegalName: "Demo Coalition LLC", AccountNumber: "40702810900000000001", BIC: "SABRRUMMXXX", Currency: "RUB"},
	{Party: "cafe", LegalName: "Coffee Corner LLC", AccountNumber: "40702810500000000002", BIC: "ALFARUMMXXX", Currency: "RUB",
		Frequency: finance.Weekly, PaymentDays: 3},
	{Party: "cinema", LegalName: "Star Cinema JSC", AccountNumber: "40702810100000000003", BIC: "TICSRUMMXXX", Currency: "RUB", PaymentDays: 2},
	{Party: "fuel", LegalName: "FuelGo LLC", AccountNumber: "40702810700000000004", BIC: "SABRRUMMXXX", Currency: "RUB", PaymentDays: 2},
}

// Two people of the demo's finance team: banking details take one to
// propose and another to confirm.
var (
	demoClerk    = finance.Actor{ID: "dev:demo-clerk", Name: "Demo clerk"}
	demoReviewer = finance.Actor{ID: "dev:demo-reviewer", Name: "Demo reviewer"}
)

// Seed adds the demo partners and members unless partners exist already,
// and returns the members it enrolled (none on a second run). On a fresh
// database it also opens the coalition's first window, yesterday.
func Seed(ctx context.Context, env Env) ([]Member, error) {
	existing, err := env.Partners.List(ctx)
	if err != nil {
		return nil, err
	}
	if len(existing) > 0 {
		return nil, nil
	}
	if err := env.Yesterday.Bootstrap(ctx, env.Settings); err != nil {
		return nil, err
	}
	ids := map[string]coalition.PartnerID{}
	for _, p := range Partners {
		added, err := env.Partners.Add(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("seed partner %s: %w", p.Code, err)
		}
		ids[p.Code] = added.ID
	}
	if _, err := env.Rules.Put(ctx, Rules(env.YesterdayNow())); err != nil {
		return nil, fmt.Errorf("seed rules: %w", err)
	}
	l := env.Yesterday
	rub := func(minor int64) coalition.Money { return coalition.Money{Minor: minor, Currency: "RUB"} }
	var out []Member
	step := 0
	key := func() string { step++; return fmt.Sprintf("demo-seed-%d", step) }
	enroll := func(name, phone, at, referral string) (Member, error) {
		m, err := l.Enroll(ctx, ids[at], ledger.Enrollment{IdempotencyKey: key(), Phone: phone, ReferralCode: referral})
		if err != nil {
			return Member{}, fmt.Errorf("seed member %s: %w", name, err)
		}
		out = append(out, Member{Name: name, Phone: phone, Member: m})
		return out[len(out)-1], nil
	}
	accrueIn := func(m Member, at string, minor int64, category string) (ledger.AccrueResult, error) {
		return l.Accrue(ctx, ids[at], ledger.Accrual{IdempotencyKey: key(), Member: ledger.MemberRef{ID: m.ID}, Purchase: rub(minor),
			OrderID: key(), Category: category})
	}
	accrue := func(m Member, at string, minor int64) (ledger.AccrueResult, error) { return accrueIn(m, at, minor, "") }
	redeem := func(m Member, at string, points coalition.Points) (ledger.Transaction, error) {
		return l.Redeem(ctx, ids[at], ledger.Redemption{IdempotencyKey: key(), Member: ledger.MemberRef{ID: m.ID}, Points: points, OrderID: key()})
	}
	anna, err := enroll("Anna", "+79160000001", "cafe", "") // welcome bonus: 50 points
	if err != nil {
		return nil, err
	}
	boris, err := enroll("Boris", "+79160000002", "cinema", "")
	if err != nil {
		return nil, err
	}
	vera, err := enroll("Vera", "+79160000003", "fuel", anna.ReferralCode) // referred by Anna
	if err != nil {
		return nil, err
	}
	yesterday := []func() error{
		// Anna has coffee (10 %, doubled by the winter promotion), then
		// dinner at the café, whose joint bonus waits for the cinema...
		func() error { _, err := accrueIn(anna, "cafe", 24_000, "coffee"); return err },  // 24 + 24 points
		func() error { _, err := accrueIn(anna, "cafe", 180_000, "dinner"); return err }, // 90 (5 %, no winter bonus on dinner), and 100 locked
		// ...and the cinema unlocks it; then she spends at the fuel station.
		func() error { _, err := accrue(anna, "cinema", 150_000); return err }, // 75 points (the 5 % step)
		func() error { _, err := redeem(anna, "fuel", 100); return err },
		// Boris fills up (pending for 14 days; fuel points expire after 45
		// days) and goes to the cinema a lot: the purchase that crosses
		// 5000.00 of spend makes him Silver.
		func() error { _, err := accrue(boris, "fuel", 500_000); return err },   // 50 points, pending
		func() error { _, err := accrue(boris, "cinema", 300_000); return err }, // 150 points, and Silver: +37
		// He spends some of them at the café.
		func() error { _, err := redeem(boris, "cafe", 60); return err },
	}
	today := []func() error{
		// Boris holds points for a cinema ticket that is still being paid.
		func() error {
			_, err := l.Authorize(ctx, ids["cinema"], ledger.Authorization{IdempotencyKey: key(), Member: ledger.MemberRef{ID: boris.ID}, Points: 40, OrderID: key(), TTL: 7 * 24 * time.Hour})
			return err
		},
		// Vera's first purchase pays the referral: 100 points to her, 200
		// to Anna, both from the operator. Then she buys coffee, returns
		// half of the second purchase, and spends at the cinema.
		func() error { _, err := accrue(vera, "cafe", 100_000); return err }, // 50 + 50 points, and the referral
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
	for i, s := range yesterday {
		if err := s(); err != nil {
			return nil, fmt.Errorf("seed yesterday's history, step %d: %w", i+1, err)
		}
	}
	// Yesterday's business day, in the coalition's time zone, as clearing
	// names windows.
	loc, err := time.LoadLocation(env.Settings.TimeZone)
	if err != nil {
		return nil, err
	}
	y := env.YesterdayNow().In(loc)
	if err := env.Clear(ctx, time.Date(y.Year(), y.Month(), y.Day(), 0, 0, 0, 0, time.UTC)); err != nil {
		return nil, fmt.Errorf("seed: clear yesterday: %w", err)
	}
	// The parties' banking details, confirmed: the server's clearing job
	// then makes yesterday's payment instructions, and the payment file
	// has the operator's payments in it.
	for _, a := range BankAccounts {
		p, err := env.Finance.ProposeAccount(ctx, demoClerk, a)
		if err != nil {
			return nil, fmt.Errorf("seed bank account of %s: %w", a.Party, err)
		}
		if _, err := env.Finance.DecideAccount(ctx, demoReviewer, p.ID, true); err != nil {
			return nil, fmt.Errorf("seed bank account of %s: %w", a.Party, err)
		}
	}
	l = env.Today
	for i, s := range today {
		if err := s(); err != nil {
			return nil, fmt.Errorf("seed today's history, step %d: %w", i+1, err)
		}
	}
	if err := seedOffers(ctx, env, ids["cafe"], out); err != nil {
		return nil, err
	}
	return out, nil
}

// seedOffers adds, after the history (which they would change), two
// personal offers: the operator's snacks bonus at the cinema for the first
// two members, and the café's pastry coupon, three single-use codes of
// which the café's portal lists.
func seedOffers(ctx context.Context, env Env, cafe coalition.PartnerID, members []Member) error {
	now := env.Now()
	var cards []string
	for _, m := range members[:min(2, len(members))] {
		cards = append(cards, m.CardNumber)
	}
	if _, err := env.Offers.Create(ctx, offers.Actor{Operator: true}, offers.Offer{
		Code: "cinema-snacks", Name: "Snacks at the cinema: +50 points", Members: cards,
		Partners: []string{"cinema"}, Categories: []string{"snacks"}, BonusPoints: 50,
		Starts: now.Add(-time.Minute), Ends: now.AddDate(0, 1, 0), BudgetPoints: 10_000, FundedBy: rules.FundedByOperator,
	}); err != nil {
		return fmt.Errorf("seed offer cinema-snacks: %w", err)
	}
	cafeActor := offers.Actor{Partner: cafe}
	if _, err := env.Offers.Create(ctx, cafeActor, offers.Offer{
		Code: "cafe-pastry", Name: "A pastry on us: +40 points", Partners: []string{"cafe"}, BonusPoints: 40,
		MinPurchaseMinor: 20_000, Starts: now.Add(-time.Minute), Ends: now.AddDate(0, 1, 0), BudgetPoints: 1_000,
		FundedBy: rules.FundedByPartner,
	}); err != nil {
		return fmt.Errorf("seed offer cafe-pastry: %w", err)
	}
	if _, err := env.Offers.IssueCoupons(ctx, cafeActor, offers.Issue{Offer: "cafe-pastry", RequestKey: "demo", Count: 3, MaxUses: 1}); err != nil {
		return fmt.Errorf("seed coupons of cafe-pastry: %w", err)
	}
	return nil
}
