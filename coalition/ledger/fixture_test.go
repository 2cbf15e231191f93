package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type fixture struct {
	t      testing.TB
	ctx    context.Context
	pool   *pgxpool.Pool
	runner *txn.Runner
	clock  *clock.Manual
	// protocol checks every committed transaction against the ledger's
	// lock protocol; a breach fails the test at cleanup.
	protocol *protocol
	l        *ledger.Ledger
	rules    *rules.Store
	// Three partners of different kinds: a café paying 5 % back with no
	// return window, a cinema paying 3 %, a fuel chain paying 1 % whose
	// points stay pending for 14 days.
	cafe, cinema, fuel partners.Partner
	keys               int
}

var start = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

func newFixture(t testing.TB) *fixture { return newFixtureWith(t, ledger.Config{}) }

// newFixtureWith takes the ledger's batching, purse head and pass events
// settings from lc. Lanes zero means two here, not the server's one: with
// two, a member named by card in one lane and by id in the other, or a
// capture queued by its hold beside its member's accrual, meet in
// batches in flight at once, which the suite must see.
func newFixtureWith(t testing.TB, lc ledger.Config) *fixture {
	t.Helper()
	if lc.Lanes == 0 {
		lc.Lanes = 2
	}
	ctx := context.Background()
	proto := newProtocol()
	cfg, err := txn.PoolConfig(pgtest.NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 40
	cfg.ConnConfig.Tracer = proto
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	t.Cleanup(func() {
		for _, b := range proto.breaches() {
			t.Errorf("lock protocol: %s", b)
		}
	})
	runner, err := txn.New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewManual(start)
	hasher, err := phone.NewHMAC([]byte("test-only phone hash key, 32+ bytes long"))
	if err != nil {
		t.Fatal(err)
	}
	store := rules.NewStore(rules.StoreConfig{Tx: runner, Clock: c.Now})
	f := &fixture{t: t, ctx: ctx, pool: pool, runner: runner, clock: c, rules: store, protocol: proto,
		l: ledger.New(ledger.Config{Tx: runner, Clock: c.Now, Phones: hasher, Rules: store, Lanes: lc.Lanes, BatchCap: lc.BatchCap, PassEvents: lc.PassEvents, PurseHead: lc.PurseHead})}
	if err := f.l.Bootstrap(ctx, ledger.Settings{Name: "Test", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100}); err != nil {
		t.Fatal(err)
	}
	reg := partners.New(partners.Config{Tx: runner, Clock: c.Now})
	add := func(code string, bp int64, window time.Duration) partners.Partner {
		p, err := reg.Add(ctx, partners.Partner{Code: code, Name: code, Kind: code, EarnRateBP: bp, ReturnWindow: window, PointsTTLDays: 365})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.cafe = add("cafe", 500, 0)
	f.cinema = add("cinema", 300, 0)
	f.fuel = add("fuel", 100, 14*24*time.Hour)
	return f
}

func (f *fixture) key() string {
	f.keys++
	return fmt.Sprintf("key-%d", f.keys)
}

func (f *fixture) enroll(at partners.Partner) ledger.Member {
	f.t.Helper()
	m, err := f.l.Enroll(f.ctx, at.ID, ledger.Enrollment{IdempotencyKey: f.key()})
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

func rub(minor int64) coalition.Money { return coalition.Money{Minor: minor, Currency: "RUB"} }

func (f *fixture) accrue(at partners.Partner, m ledger.Member, minor int64) ledger.AccrueResult {
	f.t.Helper()
	r, err := f.l.Accrue(f.ctx, at.ID, ledger.Accrual{IdempotencyKey: f.key(), Member: ledger.MemberRef{ID: m.ID},
		Purchase: rub(minor), OrderID: f.key()})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) redeem(at partners.Partner, m ledger.Member, points coalition.Points) ledger.Transaction {
	f.t.Helper()
	tx, err := f.l.Redeem(f.ctx, at.ID, ledger.Redemption{IdempotencyKey: f.key(), Member: ledger.MemberRef{ID: m.ID},
		Points: points, OrderID: f.key()})
	if err != nil {
		f.t.Fatal(err)
	}
	return tx
}

func (f *fixture) balance(m ledger.Member) ledger.Balance {
	f.t.Helper()
	b, err := f.l.Balance(f.ctx, f.cafe.ID, ledger.MemberRef{ID: m.ID})
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// wantBalance compares the parts of a balance a member sees.
func (f *fixture) wantBalance(m ledger.Member, available, pending, held, debt coalition.Points) {
	f.t.Helper()
	b := f.balance(m)
	if b.Available != available || b.Pending != pending || b.Held != held || b.Debt != debt {
		f.t.Fatalf("balance = available %d, pending %d, held %d, debt %d; want %d, %d, %d, %d",
			b.Available, b.Pending, b.Held, b.Debt, available, pending, held, debt)
	}
}

// checkClean runs the ledger check and fails on any breach.
func (f *fixture) checkClean() {
	f.t.Helper()
	breaches, err := f.l.Check(f.ctx, time.Minute)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, b := range breaches {
		f.t.Errorf("ledger check: %s: %s", b.Invariant, b.Detail)
	}
}

// count returns the rows of a table, to prove that a refused request wrote
// nothing.
func (f *fixture) count(table string) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// writes counts every row the ledger writes but the records of refusals
// (a refused request writes only that, under its key).
func (f *fixture) writes() string {
	return fmt.Sprint(f.count("transactions"), f.count("entries"), f.count("lots"), f.count("lot_consumptions"),
		f.count("holds"), f.count("member_debts"), f.count("members"), f.count("idempotency_keys WHERE outcome = 'posted'"))
}

// wantError asserts a domain error's class and field.
func wantError(t testing.TB, err error, code coalition.Code, field string) {
	t.Helper()
	e, ok := coalition.AsError(err)
	if !ok {
		t.Fatalf("error = %v, want a domain error (code %d, field %q)", err, code, field)
	}
	if e.Code != code || e.Field != field {
		t.Fatalf("error = code %d field %q (%v), want code %d field %q", e.Code, e.Field, e, code, field)
	}
}

// consumptions lists, for a transaction, issuer → redeemer: points.
func (f *fixture) consumptions(txID fmt.Stringer) map[string]int64 {
	f.t.Helper()
	rows, err := f.pool.Query(f.ctx, `
		SELECT i.code, COALESCE(r.code, '-'), c.kind, SUM(c.points)
		FROM lot_consumptions c
		JOIN partners i ON i.id = c.issuer_id
		LEFT JOIN partners r ON r.id = c.redeemer_id
		WHERE c.transaction_id = $1
		GROUP BY i.code, r.code, c.kind`, txID.String())
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var issuer, redeemer, kind string
		var n int64
		if err := rows.Scan(&issuer, &redeemer, &kind, &n); err != nil {
			f.t.Fatal(err)
		}
		out[kind+" "+issuer+"→"+redeemer] = n
	}
	return out
}
