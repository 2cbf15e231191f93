package segments_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/segments"
)

// BenchmarkComputeDue times the daily job's segment pass: ComputeDue of
// the last cleared day, which rewrites the RFM scores of every member in
// every scope (the coalition and each of 20 partners) over the look-back's
// purchases and recomputes the membership of benchSegments typical
// segments, one statement each; and the segments page's reads (List and
// Grid), for the operator and for a partner. The look-back holds N
// purchases by 2N/5 members, written set-based straight into the
// ledger's tables. The figures and the command are in docs/BENCHMARKS.md.
//
// Sizes: N = 1e5 by default; COALITION_BENCH_LARGE=1 adds 1e6;
// COALITION_BENCH_PURCHASES=1e5,1e6 chooses them outright.
// COALITION_BENCH_EXPLAIN=1 logs the plan, with actual times, of every
// statement of one ComputeDue over 50 ms.
//
// Metrics: ns/op is one day's ComputeDue (the day before computed
// already, as every day but the first); page-ns/op the operator's
// segments page (List and Grid of the coalition), partner-page-ns/op a
// partner's.
func BenchmarkComputeDue(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run("purchases="+sizeName(n), func(b *testing.B) {
			w := newBenchWorld(b, n)
			if os.Getenv("COALITION_BENCH_EXPLAIN") == "1" {
				w.explain(b)
			}
			b.Run("day", w.bench)
		})
	}
}

func (w *benchWorld) bench(b *testing.B) {
	var page, partnerPage time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		// The day is computed again, as if not yet: the scores and
		// memberships it writes are those already there.
		if _, err := w.bare.Exec(w.ctx, `DELETE FROM segment_days WHERE business_date = $1`, benchLast); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		w.page(b, segments.Coalition, false)
		page += time.Since(start)
		start = time.Now()
		w.page(b, segments.PartnerScope(w.partners[0]), true)
		partnerPage += time.Since(start)
		b.StartTimer()
		if _, ok, err := w.seg.ComputeDue(w.ctx); err != nil || !ok {
			b.Fatalf("ComputeDue: %v (computed: %v)", err, ok)
		}
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	b.ReportMetric(per(page), "page-ns/op")
	b.ReportMetric(per(partnerPage), "partner-page-ns/op")
}

func benchSizes(b *testing.B) []int64 {
	if s := os.Getenv("COALITION_BENCH_PURCHASES"); s != "" {
		var out []int64
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || n < 1000 {
				b.Fatalf("COALITION_BENCH_PURCHASES: %q is not a count of at least 1000", f)
			}
			out = append(out, int64(n))
		}
		return out
	}
	if os.Getenv("COALITION_BENCH_LARGE") == "1" {
		return []int64{100_000, 1_000_000}
	}
	return []int64{100_000}
}

func sizeName(n int64) string {
	s := strconv.FormatInt(n, 10)
	if z := len(s) - len(strings.TrimRight(s, "0")); s[0] == '1' && z == len(s)-1 {
		return fmt.Sprintf("1e%d", z)
	}
	return s
}

// The look-back's business days: the year ending on benchLast.
var (
	benchLast  = date(2026, time.June, 29)
	benchFirst = benchLast.AddDate(0, 0, 1-segments.LookBackDays)
)

const benchPartners = 20

// benchSegments are the segments defined: typical ones of the operator
// and of one partner, every kind of condition.
var benchSegments = []struct {
	partner bool
	code    string
	def     segments.Definition
}{
	{false, "gold", segments.Definition{Tiers: []string{"gold"}}},
	{false, "lapsed-90", segments.Definition{LapsedDays: 90}},
	{false, "champions", segments.Definition{Recency: &segments.ScoreRange{Min: 4, Max: 5}, Frequency: &segments.ScoreRange{Min: 4, Max: 5}}},
	{false, "coffee", segments.Definition{Categories: []string{"coffee"}}},
	{false, "explorers", segments.Definition{MinPartnersVisited: 3}},
	{false, "july-birthdays", segments.Definition{BirthdayMonth: 7}},
	{true, "lapsed-60", segments.Definition{LapsedDays: 60}},
	{true, "big-spenders", segments.Definition{Monetary: &segments.ScoreRange{Min: 5, Max: 5}}},
	{true, "food", segments.Definition{Categories: []string{"food"}}},
	{true, "also-p01", segments.Definition{VisitedPartners: []string{"p01"}}},
}

type benchWorld struct {
	ctx      context.Context
	pool     *pgxpool.Pool // the project's pool
	bare     *pgxpool.Pool // for the load
	seg      *segments.Segments
	partners []coalition.PartnerID
}

func newBenchWorld(b *testing.B, n int64) *benchWorld {
	ctx := context.Background()
	w := &benchWorld{ctx: ctx, pool: pgtest.NewDB(b)}
	var err error
	if w.bare, err = pgxpool.NewWithConfig(ctx, w.pool.Config()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.bare.Close)
	runner, err := txn.New(ctx, w.pool)
	if err != nil {
		b.Fatal(err)
	}
	clk := func() time.Time { return at(benchLast.AddDate(0, 0, 1), 3, 0) }
	if err := ledger.New(ledger.Config{Tx: runner, Clock: clk}).Bootstrap(ctx, ledger.Settings{Name: "Bench", Currency: "RUB",
		TimeZone: "Europe/Moscow", PointValueMinor: 100}); err != nil {
		b.Fatal(err)
	}
	reg := partners.New(partners.Config{Tx: runner, Clock: clk})
	for i := range benchPartners {
		p, err := reg.Add(ctx, partners.Partner{Code: fmt.Sprintf("p%02d", i), Name: fmt.Sprintf("Partner %d", i), Kind: "shop",
			EarnRateBP: 500, PointsTTLDays: 365})
		if err != nil {
			b.Fatal(err)
		}
		w.partners = append(w.partners, p.ID)
	}
	start := time.Now()
	if err := w.generate(b, n); err != nil {
		b.Fatal(err)
	}
	generated := time.Since(start)

	w.seg = segments.New(segments.Config{Tx: runner, Clock: clk})
	for _, s := range benchSegments {
		scope := segments.Coalition
		if s.partner {
			scope = segments.PartnerScope(w.partners[0])
		}
		if _, err := w.seg.Define(ctx, scope, s.code, s.code, s.def); err != nil {
			b.Fatal(err)
		}
	}
	// The first day computes every score afresh; the day after, timed
	// here once, rewrites them, as every later day does.
	start = time.Now()
	if err := w.seg.Compute(ctx, benchLast.AddDate(0, 0, -1)); err != nil {
		b.Fatal(err)
	}
	first := time.Since(start)
	w.analyse(b)
	start = time.Now()
	if _, ok, err := w.seg.ComputeDue(ctx); err != nil || !ok {
		b.Fatalf("ComputeDue: %v (computed: %v)", err, ok)
	}
	daily := time.Since(start)
	w.analyse(b)

	// Worth timing only if right: the coalition's grid scores every
	// member who bought in the look-back, and a partner's those who
	// bought there, counted here from the generator's own formula.
	members, bought := benchMembers(n), benchBuyers(n)
	atFirst := 0
	for m := range bought {
		if bought[m]&1 != 0 {
			atFirst++
		}
	}
	scored := 0
	for _, v := range bought {
		if v != 0 {
			scored++
		}
	}
	for _, c := range []struct {
		scope segments.Scope
		want  int
	}{{segments.Coalition, scored}, {segments.PartnerScope(w.partners[0]), atFirst}} {
		g, err := w.seg.Grid(ctx, c.scope)
		if err != nil {
			b.Fatal(err)
		}
		if g.Scored != int64(c.want) || !g.AsOf.Equal(benchLast) {
			b.Fatalf("grid of %v: %d scored as of %s, want %d as of %s", c.scope.Partner, g.Scored, g.AsOf, c.want, benchLast)
		}
	}
	list, err := w.seg.List(ctx, nil, false)
	if err != nil {
		b.Fatal(err)
	}
	var sizes []string
	for _, s := range list {
		if s.Size == 0 || !s.AsOf.Equal(benchLast) {
			b.Fatalf("segment %s: %d members as of %s", s.Code, s.Size, s.AsOf)
		}
		sizes = append(sizes, fmt.Sprintf("%s %d", s.Code, s.Size))
	}
	var rfm int64
	var size string
	if err := w.bare.QueryRow(ctx, `SELECT count(*), pg_size_pretty(pg_database_size(current_database())) FROM member_rfm`).
		Scan(&rfm, &size); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d purchases by %d members generated in %s; first day computed in %s, the next (ComputeDue) in %s; "+
		"%d RFM rows; database %s; segments: %s", n, members, generated.Round(time.Millisecond), first.Round(time.Millisecond),
		daily.Round(time.Millisecond), rfm, size, strings.Join(sizes, ", "))
	return w
}

// benchMembers is the number of members of a load of n purchases.
func benchMembers(n int64) int64 { return max(2*n/5, 1) }

// benchPurchase is purchase e's member and partner (an index of the
// partners by code), as generate writes them: member x²/members, x =
// e·48271 mod members, so that the first members buy most often and a
// quarter of them not at all; at the member's home partner three times in
// five.
func benchPurchase(n, e int64) (m, p int64) {
	x := e * 48271 % benchMembers(n)
	m = x * x / benchMembers(n)
	if e%5 < 3 {
		return m, m % benchPartners
	}
	return m, (m + 1 + e%19) % benchPartners
}

// benchBuyers is, per member, a bit per partner they bought at.
func benchBuyers(n int64) []uint32 {
	out := make([]uint32, benchMembers(n))
	for e := range n {
		m, p := benchPurchase(n, e)
		out[m] |= 1 << p
	}
	return out
}

// generate writes the look-back's purchases, set-based, straight into
// the ledger's tables, in the shapes the ledger writes what segments read:
//
//   - 2n/5 members, member i at home partner i%20 (p00 to p19), enrolled
//     before the look-back; their tiers (one in ten gold, three silver,
//     the rest base) and, for half of them, a birth date;
//   - n earns spread over the 365 days, earn e by member (e·48271 mod
//     members)²/members (benchPurchase), amount 1.00 to 500.99, a category of five
//     (one without); a refund of half of every 50th.
//
// Every id is md5 of a name and an ordinal. Foreign keys are not checked
// during the load (session_replication_role = replica): members' accounts
// and purchases' lots are not there.
func (w *benchWorld) generate(b *testing.B, n int64) error {
	ctx := w.ctx
	conn, err := w.bare.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		return err
	}
	defer func() { _, _ = conn.Exec(ctx, `RESET session_replication_role`) }()
	rows, err := conn.Query(ctx, `SELECT id FROM partners WHERE kind <> 'operator' ORDER BY code`)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return err
	}
	const g = `
		WITH g (members, earns, days, first_day, partner) AS (
			SELECT $1::BIGINT, $2::BIGINT, $3::BIGINT, $4::DATE, $5::UUID[])`
	args := []any{benchMembers(n), n, int64(segments.LookBackDays), benchFirst, ids}
	var took []string
	for _, step := range []struct{ what, sql string }{
		{"members", `
			INSERT INTO members (id, card_number, qr_token, referral_code, home_partner_id,
			                     points_account_id, debt_account_id, enrolled_at)
			SELECT md5('m' || i)::UUID, lpad(i::TEXT, 16, '0'), 'q' || i, 'r' || i, g.partner[i % 20 + 1],
			       md5('ma' || i)::UUID, md5('md' || i)::UUID, TIMESTAMPTZ '2024-01-01 10:00:00+03' + i * INTERVAL '1 second'
			FROM g, generate_series(0::BIGINT, g.members - 1) AS i`},
		{"tiers", `
			INSERT INTO member_tiers (member_id, tier, since, reviewed_at)
			SELECT md5('m' || i)::UUID, CASE WHEN i % 10 = 0 THEN 'gold' WHEN i % 10 < 4 THEN 'silver' ELSE 'base' END,
			       TIMESTAMPTZ '2025-01-01 00:00:00+03', TIMESTAMPTZ '2026-06-01 00:00:00+03'
			FROM g, generate_series(0::BIGINT, g.members - 1) AS i`},
		{"birth dates", `
			INSERT INTO member_profiles (member_id, birth_month, birth_day, updated_at)
			SELECT md5('m' || i)::UUID, 1 + i / 2 % 12, 1 + i % 28, TIMESTAMPTZ '2025-01-01 00:00:00+03'
			FROM g, generate_series(0::BIGINT, g.members - 1, 2) AS i`},
		{"earns", `
			INSERT INTO transactions (id, kind, partner_id, member_id, business_date, points, amount_minor, currency,
			                          order_id, category, created_at)
			SELECT md5('e' || e)::UUID, 'earn',
			       g.partner[CASE WHEN e % 5 < 3 THEN m % 20 ELSE (m + 1 + e % 19) % 20 END + 1],
			       md5('m' || m)::UUID, g.first_day + d::INT, 1 + (100 + e * 7907 % 50000) / 200, 100 + e * 7907 % 50000, 'RUB',
			       'o' || e, (ARRAY['coffee', 'food', 'film', 'fuel', NULL])[e % 5 + 1],
			       (g.first_day + d::INT)::TIMESTAMP AT TIME ZONE 'Europe/Moscow' + INTERVAL '11 hours'
			           + (e / g.days % 30000) * INTERVAL '1 second'
			FROM g, generate_series(0::BIGINT, g.earns - 1) AS e,
			     LATERAL (SELECT e % g.days) AS x (d),
			     LATERAL (SELECT (e * 48271 % g.members) * (e * 48271 % g.members) / g.members) AS y (m)`},
		{"refunds", `
			INSERT INTO transactions (id, kind, partner_id, member_id, business_date, points, amount_minor, currency,
			                          order_id, original_id, created_at)
			SELECT md5('rf' || k)::UUID, 'earn_refund', t.partner_id, t.member_id, t.business_date, -(1 + t.points / 2),
			       t.amount_minor / 2, 'RUB', t.order_id, t.id, t.created_at + INTERVAL '1 hour'
			FROM g CROSS JOIN generate_series(0::BIGINT, g.earns - 1, 50) AS k
			JOIN transactions AS t ON t.id = md5('e' || k)::UUID`},
		{"cleared days", `
			INSERT INTO clearing_reports (business_date, report, sha256, cleared_at)
			SELECT g.first_day + d::INT, '\x7b7d'::BYTEA, '\x00'::BYTEA, TIMESTAMPTZ '2026-06-30 01:00:00+03'
			FROM g, generate_series(g.days - 2, g.days - 1) AS d`},
	} {
		t := time.Now()
		if _, err := conn.Exec(ctx, g+step.sql, args...); err != nil {
			return fmt.Errorf("generate %s: %w", step.what, err)
		}
		took = append(took, fmt.Sprintf("%s %s", step.what, time.Since(t).Round(time.Millisecond)))
	}
	t := time.Now()
	for _, table := range []string{"members", "member_tiers", "member_profiles", "transactions", "clearing_reports"} {
		if _, err := conn.Exec(ctx, `VACUUM ANALYZE `+table); err != nil {
			return fmt.Errorf("vacuum %s: %w", table, err)
		}
	}
	b.Logf("generated: %s; vacuum analyze %s", strings.Join(took, ", "), time.Since(t).Round(time.Millisecond))
	return nil
}

// analyse brings the segments' tables' statistics up to date, as
// autovacuum does between two days.
func (w *benchWorld) analyse(b *testing.B) {
	for _, table := range []string{"member_rfm", "segment_members", "segments", "segment_days"} {
		if _, err := w.bare.Exec(w.ctx, `VACUUM ANALYZE `+table); err != nil {
			b.Fatal(err)
		}
	}
}

// page reads what the segments page shows: the scope's segments and its
// RFM grid.
func (w *benchWorld) page(b *testing.B, scope segments.Scope, partnerView bool) {
	if _, err := w.seg.List(w.ctx, &scope, partnerView); err != nil {
		b.Fatal(err)
	}
	if _, err := w.seg.Grid(w.ctx, scope); err != nil {
		b.Fatal(err)
	}
}

// explain logs the plan of every statement of one ComputeDue over 50 ms,
// with actual times (auto_explain, sent back as notices). Run it with -v.
func (w *benchWorld) explain(b *testing.B) {
	var mu sync.Mutex
	var plans []string
	cfg := w.pool.Config()
	project := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if project != nil {
			if err := project(ctx, conn); err != nil {
				return err
			}
		}
		_, err := conn.Exec(ctx, `LOAD 'auto_explain';
			SET auto_explain.log_min_duration = 50; SET auto_explain.log_analyze = on;
			SET auto_explain.log_buffers = on; SET auto_explain.log_nested_statements = on;
			SET auto_explain.log_level = notice`)
		return err
	}
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		defer mu.Unlock()
		plans = append(plans, n.Message)
	}
	pool, err := pgxpool.NewWithConfig(w.ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	runner, err := txn.New(w.ctx, pool)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.bare.Exec(w.ctx, `DELETE FROM segment_days WHERE business_date = $1`, benchLast); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, ok, err := segments.New(segments.Config{Tx: runner}).ComputeDue(w.ctx); err != nil || !ok {
		b.Fatalf("ComputeDue: %v (computed: %v)", err, ok)
	}
	d := time.Since(start)
	mu.Lock()
	b.Logf("ComputeDue took %s; its statements over 50 ms:\n%s", d, strings.Join(plans, "\n\n"))
	mu.Unlock()
}
