package clearing_test

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
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

// BenchmarkClearing clears one window of N postings (ledger transactions)
// and, in the same iterations, runs a bare GROUP BY scan of the same rows,
// so that the two can be compared as a ratio on a noisy machine. The
// figures and the commands are in docs/BENCHMARKS.md.
//
// Sizes: 1e5 by default; COALITION_BENCH_LARGE=1 adds 1e6;
// COALITION_BENCH_POSTINGS=1e5,1e6,1e7 chooses them outright.
// COALITION_BENCH_INDEXSCAN=1 also times the bare scan through the
// project's pool (enable_seqscan=off): what a full-window read costs when
// the planner is kept to index scans. COALITION_BENCH_EXPLAIN=1 logs the
// plan of every statement of one clearing run over 1 ms (auto_explain, with
// actual times) and of the bare scan; run it with -v, or the log is cut.
//
// Metrics: ns/op is one clearing.Run (close, compute, store); bare-ns/op
// is the bare scan; x-bare is their ratio; postings/s is N / clearing time;
// indexscan-ns/op is the bare scan kept to index scans.
func BenchmarkClearing(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run("postings="+sizeName(n), func(b *testing.B) {
			w := newBenchWindow(b, n)
			b.Run("run", w.bench)
		})
	}
}

func benchSizes(b *testing.B) []int64 {
	if s := os.Getenv("COALITION_BENCH_POSTINGS"); s != "" {
		var out []int64
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.ParseFloat(strings.TrimSpace(f), 64) // 1e6 or 1000000
			if err != nil || n < 100 {
				b.Fatalf("COALITION_BENCH_POSTINGS: %q is not a count of at least 100", f)
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
	e := 0
	for m := n; m%10 == 0 && m > 1; m /= 10 {
		e++
	}
	if n == pow10(e) {
		return fmt.Sprintf("1e%d", e)
	}
	return strconv.FormatInt(n, 10)
}

func pow10(e int) int64 {
	n := int64(1)
	for range e {
		n *= 10
	}
	return n
}

// The benchmark's window, and the clock the clearing runs at: half past
// midnight after it, so that the window it opens next is the following day.
var (
	benchDay   = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	benchClock = func() time.Time { return time.Date(2026, 3, 11, 0, 30, 0, 0, moscow) }
)

// benchPartners is the coalition's size; generate's SQL counts on 20.
const benchPartners = 20

// benchWindow is a coalition of 20 partners with one window of n postings.
type benchWindow struct {
	ctx  context.Context
	logf func(format string, args ...any)
	n    int64
	pool *pgxpool.Pool // the project's pool: enable_seqscan=off, jit=off
	bare *pgxpool.Pool // PostgreSQL's planner defaults (jit off as well)
	// The figures the clearing must find, from the generator's own counts.
	burned, issued, expired coalition.Points
}

func newBenchWindow(b *testing.B, n int64) *benchWindow {
	ctx := context.Background()
	w := &benchWindow{ctx: ctx, logf: b.Logf, n: n, pool: pgtest.NewDB(b)}
	cfg := w.pool.Config()
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `SET jit = off`)
		return err
	}
	var err error
	if w.bare, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.bare.Close)
	runner, err := txn.New(ctx, w.pool)
	if err != nil {
		b.Fatal(err)
	}
	clock := func() time.Time { return time.Date(2026, 3, 10, 9, 0, 0, 0, moscow) }
	l := ledger.New(ledger.Config{Tx: runner, Clock: clock})
	if err := l.Bootstrap(ctx, ledger.Settings{Name: "Bench", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100,
		InterchangeFeeBP: 100, IssueFeeBP: 50, BreakageShareBP: 2000}); err != nil {
		b.Fatal(err)
	}
	reg := partners.New(partners.Config{Tx: runner, Clock: clock})
	for i := range benchPartners {
		p := partners.Partner{Code: fmt.Sprintf("p%02d", i), Name: fmt.Sprintf("Partner %d", i), Kind: "shop",
			EarnRateBP: 500, PointsTTLDays: 365}
		if i%4 == 0 {
			p.InterchangeFeeBP = bp(150)
		}
		if _, err := reg.Add(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	if err := w.generate(ctx); err != nil {
		b.Fatal(err)
	}
	generated := time.Since(start)
	// The ledger's own invariants hold over the generated rows (through
	// the bare pool: the check reads whole tables).
	checker, err := txn.New(ctx, w.bare)
	if err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	breaches, err := ledger.New(ledger.Config{Tx: checker, Clock: clock}).Check(ctx, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	if len(breaches) > 0 {
		b.Fatalf("the generated ledger breaks %d invariants, first: %+v", len(breaches), breaches[0])
	}
	checked := time.Since(start)
	var size string
	if err := w.bare.QueryRow(ctx, `SELECT pg_size_pretty(pg_database_size(current_database()))`).Scan(&size); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d postings generated, vacuumed and analysed in %s, ledger check clean in %s; database %s",
		n, generated.Round(time.Millisecond), checked.Round(time.Millisecond), size)
	return w
}

// generate writes the window's postings set-based, straight into the
// tables, in the shapes the ledger writes them (coalition/ledger/posting.go):
//
//   - 55 % earns at partner e%20 by member e%(n/10): entries
//     partner_issued −p / member +p, and a lot of p points; the members'
//     tier spend of each UTC day (member_day_spend) sums their amounts;
//   - 44 % burns, burn b spending part of earn b's lot at its issuer (one
//     in five) or at another partner: entries member −q / partner_redeemed
//     +q, and one burn consumption of q points;
//   - 1 % expiries, each of the whole lot of an earn no burn touched:
//     entries member −p / partner_breakage +p, and one expire consumption.
//
// Every id is md5 of a name and an ordinal, so the statements find each
// other's rows without joins. Foreign keys are not checked during the load
// (session_replication_role = replica: a third faster); the rows satisfy
// them all the same, and the ledger's invariant check, the clearing's
// reconciliation and the totals checked after each run agree with them.
func (w *benchWindow) generate(ctx context.Context) error {
	members := max(w.n/10, 1)
	expiries := max(w.n/100, 1)
	earns := w.n * 55 / 100
	burns := w.n - earns - expiries
	var ids, issued, redeemed, breakage []uuid.UUID
	rows, err := w.bare.Query(ctx, `SELECT id, issued_account_id, redeemed_account_id, breakage_account_id FROM partners ORDER BY code`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, i, r, k uuid.UUID
		if err := rows.Scan(&id, &i, &r, &k); err != nil {
			rows.Close()
			return err
		}
		ids, issued, redeemed, breakage = append(ids, id), append(issued, i), append(redeemed, r), append(breakage, k)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	conn, err := w.bare.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	defer func() { _, _ = conn.Exec(ctx, `RESET session_replication_role`) }()
	// Every statement reads its numbers from one row, g. Points of earn e:
	// 1 + e*37 % 500; burn b spends 1 + b*13 % (points of earn b), at its
	// issuer b%20 when b%5 = 0, else at partner (b%20 + 1 + b%19) % 20.
	const g = `
		WITH g (members, earns, burns, expiries, day, first_at, partner, issued, redeemed, breakage) AS (
			SELECT $1::BIGINT, $2::BIGINT, $3::BIGINT, $4::BIGINT, $5::DATE, $6::TIMESTAMPTZ,
			       $7::UUID[], $8::UUID[], $9::UUID[], $10::UUID[])`
	args := []any{members, earns, burns, expiries, benchDay.Format(time.DateOnly),
		time.Date(2026, 3, 10, 9, 0, 0, 0, moscow), ids, issued, redeemed, breakage}
	var took []string
	for _, step := range []struct{ what, sql string }{
		{"member accounts", `
			INSERT INTO accounts (id, kind, owner_id)
			SELECT md5(k.prefix || i)::UUID, k.kind, md5('m' || i)::UUID
			FROM g, generate_series(0::BIGINT, g.members - 1) AS i,
			     (VALUES ('ma', 'member'), ('md', 'member_debt')) AS k (prefix, kind)`},
		{"members", `
			INSERT INTO members (id, card_number, qr_token, referral_code, home_partner_id,
			                     points_account_id, debt_account_id, enrolled_at)
			SELECT md5('m' || i)::UUID, lpad(i::TEXT, 16, '0'), 'q' || i, 'r' || i, g.partner[i % 20 + 1],
			       md5('ma' || i)::UUID, md5('md' || i)::UUID, g.first_at
			FROM g, generate_series(0::BIGINT, g.members - 1) AS i`},
		{"earns", `
			INSERT INTO transactions (id, kind, partner_id, member_id, business_date, points,
			                          amount_minor, currency, order_id, created_at)
			SELECT md5('e' || e)::UUID, 'earn', g.partner[e % 20 + 1], md5('m' || (e % g.members))::UUID, g.day,
			       1 + e * 37 % 500, (1 + e * 37 % 500) * 2000, 'RUB', 'o' || e,
			       g.first_at + e * INTERVAL '1 millisecond'
			FROM g, generate_series(1::BIGINT, g.earns) AS e`},
		{"member day spend", `
			INSERT INTO member_day_spend (member_id, day, spend_minor)
			SELECT member_id, (created_at AT TIME ZONE 'UTC')::DATE, SUM(amount_minor)
			FROM transactions
			WHERE kind = 'earn'
			GROUP BY 1, 2`},
		{"earn entries", `
			INSERT INTO entries (transaction_id, seq, account_id, amount)
			SELECT md5('e' || e)::UUID, s.seq,
			       CASE s.seq WHEN 1 THEN g.issued[e % 20 + 1] ELSE md5('ma' || (e % g.members))::UUID END,
			       CASE s.seq WHEN 1 THEN -1 ELSE 1 END * (1 + e * 37 % 500)
			FROM g, generate_series(1::BIGINT, g.earns) AS e, (VALUES (1), (2)) AS s (seq)`},
		{"lots", `
			INSERT INTO lots (id, member_id, issuer_id, transaction_id, points, remaining,
			                  earned_at, spendable_from, expires_at)
			SELECT md5('l' || e)::UUID, md5('m' || (e % g.members))::UUID, g.partner[e % 20 + 1], md5('e' || e)::UUID,
			       1 + e * 37 % 500,
			       CASE WHEN e <= g.burns THEN (1 + e * 37 % 500) - (1 + e * 13 % (1 + e * 37 % 500))
			            WHEN e <= g.burns + g.expiries THEN 0
			            ELSE 1 + e * 37 % 500 END,
			       g.first_at + e * INTERVAL '1 millisecond', g.first_at + e * INTERVAL '1 millisecond',
			       g.first_at + e * INTERVAL '1 millisecond' +
			           CASE WHEN e <= g.burns OR e > g.burns + g.expiries THEN INTERVAL '365 days' ELSE INTERVAL '0' END
			FROM g, generate_series(1::BIGINT, g.earns) AS e`},
		{"burns", `
			INSERT INTO transactions (id, kind, partner_id, member_id, business_date, points, order_id, created_at)
			SELECT md5('b' || b)::UUID, 'burn', g.partner[r + 1], md5('m' || (b % g.members))::UUID, g.day,
			       -(1 + b * 13 % (1 + b * 37 % 500)), 'ob' || b, g.first_at + INTERVAL '1 hour' + b * INTERVAL '1 millisecond'
			FROM g, generate_series(1::BIGINT, g.burns) AS b,
			     LATERAL (SELECT CASE WHEN b % 5 = 0 THEN b % 20 ELSE (b % 20 + 1 + b % 19) % 20 END) AS x (r)`},
		{"burn entries", `
			INSERT INTO entries (transaction_id, seq, account_id, amount)
			SELECT md5('b' || b)::UUID, s.seq,
			       CASE s.seq WHEN 1 THEN md5('ma' || (b % g.members))::UUID ELSE g.redeemed[r + 1] END,
			       CASE s.seq WHEN 1 THEN -1 ELSE 1 END * (1 + b * 13 % (1 + b * 37 % 500))
			FROM g, generate_series(1::BIGINT, g.burns) AS b, (VALUES (1), (2)) AS s (seq),
			     LATERAL (SELECT CASE WHEN b % 5 = 0 THEN b % 20 ELSE (b % 20 + 1 + b % 19) % 20 END) AS x (r)`},
		{"burn consumptions", `
			INSERT INTO lot_consumptions (id, transaction_id, lot_id, member_id, issuer_id, redeemer_id,
			                              kind, points, business_date, created_at)
			SELECT md5('c' || b)::UUID, md5('b' || b)::UUID, md5('l' || b)::UUID, md5('m' || (b % g.members))::UUID,
			       g.partner[b % 20 + 1], g.partner[r + 1], 'burn', 1 + b * 13 % (1 + b * 37 % 500), g.day,
			       g.first_at + INTERVAL '1 hour' + b * INTERVAL '1 millisecond'
			FROM g, generate_series(1::BIGINT, g.burns) AS b,
			     LATERAL (SELECT CASE WHEN b % 5 = 0 THEN b % 20 ELSE (b % 20 + 1 + b % 19) % 20 END) AS x (r)`},
		{"expiries", `
			INSERT INTO transactions (id, kind, partner_id, member_id, business_date, points, created_at)
			SELECT md5('x' || e)::UUID, 'expire', g.partner[e % 20 + 1], md5('m' || (e % g.members))::UUID, g.day,
			       -(1 + e * 37 % 500), g.first_at + INTERVAL '2 hours' + e * INTERVAL '1 millisecond'
			FROM g, generate_series(g.burns + 1, g.burns + g.expiries) AS e`},
		{"expiry entries", `
			INSERT INTO entries (transaction_id, seq, account_id, amount)
			SELECT md5('x' || e)::UUID, s.seq,
			       CASE s.seq WHEN 1 THEN md5('ma' || (e % g.members))::UUID ELSE g.breakage[e % 20 + 1] END,
			       CASE s.seq WHEN 1 THEN -1 ELSE 1 END * (1 + e * 37 % 500)
			FROM g, generate_series(g.burns + 1, g.burns + g.expiries) AS e, (VALUES (1), (2)) AS s (seq)`},
		{"expiry consumptions", `
			INSERT INTO lot_consumptions (id, transaction_id, lot_id, member_id, issuer_id, kind, points,
			                              business_date, created_at)
			SELECT md5('cx' || e)::UUID, md5('x' || e)::UUID, md5('l' || e)::UUID, md5('m' || (e % g.members))::UUID,
			       g.partner[e % 20 + 1], 'expire', 1 + e * 37 % 500, g.day,
			       g.first_at + INTERVAL '2 hours' + e * INTERVAL '1 millisecond'
			FROM g, generate_series(g.burns + 1, g.burns + g.expiries) AS e`},
		// The ledger's running figure of the members' open points,
		// recomputed whole.
		{"member open points", `
			INSERT INTO member_open_points (member_id, points)
			SELECT member_id, SUM(remaining) FROM lots
			WHERE remaining > 0 AND EXISTS (SELECT 1 FROM g)
			GROUP BY member_id
			ON CONFLICT (member_id) DO UPDATE SET points = excluded.points`},
		// The ledger's running figure of the partners' outstanding
		// points, recomputed whole (a call may add to a ledger generated
		// before).
		{"partner outstanding", `
			INSERT INTO partner_day_outstanding (partner_id, business_date, shard, points)
			SELECT partner_id, business_date, 0, SUM(points)
			FROM (SELECT partner_id, business_date, points FROM transactions WHERE kind IN ('earn', 'bonus')
			      UNION ALL
			      SELECT issuer_id, business_date, -points FROM lot_consumptions) AS issued
			WHERE EXISTS (SELECT 1 FROM g)
			GROUP BY partner_id, business_date
			ON CONFLICT (partner_id, business_date, shard) DO UPDATE SET points = excluded.points`},
	} {
		t := time.Now()
		if _, err := conn.Exec(ctx, g+step.sql, args...); err != nil {
			return fmt.Errorf("generate %s: %w", step.what, err)
		}
		took = append(took, fmt.Sprintf("%s %s", step.what, time.Since(t).Round(time.Millisecond)))
	}
	t := time.Now()
	for _, table := range []string{"accounts", "members", "transactions", "entries", "lots", "lot_consumptions"} {
		if _, err := conn.Exec(ctx, `VACUUM ANALYZE `+table); err != nil {
			return fmt.Errorf("vacuum %s: %w", table, err)
		}
	}
	w.logf("generated: %s; vacuum analyze %s", strings.Join(took, ", "), time.Since(t).Round(time.Millisecond))
	return conn.QueryRow(ctx, `
		SELECT COALESCE(SUM(points) FILTER (WHERE kind = 'earn'), 0),
		       COALESCE(-SUM(points) FILTER (WHERE kind = 'burn'), 0),
		       COALESCE(-SUM(points) FILTER (WHERE kind = 'expire'), 0)
		FROM transactions`).Scan(&w.issued, &w.burned, &w.expired)
}

// reopen undoes a clearing run: the report and liabilities go, the window
// the run opened goes, and the window is open again, so that the next run
// does the whole work again on the same rows.
func (w *benchWindow) reopen(b *testing.B) {
	day := benchDay.Format(time.DateOnly)
	err := pgx.BeginFunc(w.ctx, w.bare, func(tx pgx.Tx) error {
		for _, sql := range []string{
			`DELETE FROM partner_liabilities WHERE business_date = $1`,
			`DELETE FROM clearing_reports WHERE business_date = $1`,
			`DELETE FROM settlement_windows WHERE business_date > $1`,
			`UPDATE settlement_windows SET status = 'open', closed_at = NULL, closed_hlc = NULL WHERE business_date = $1`,
		} {
			if _, err := tx.Exec(w.ctx, sql, day); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("reopen the window: %v", err)
	}
}

// bareScan reads the rows the clearing's report and reconciliation are
// made of with one plain GROUP BY query per table: the window's lot
// consumptions by issuer, redeemer and kind; its transactions by partner
// and kind; its entries by kind of account. Nothing else: no window to
// close, no terms, no report to build or store, no transaction around them.
var bareScan = []string{
	`SELECT issuer_id, redeemer_id, kind, SUM(points) FROM lot_consumptions WHERE business_date = $1 GROUP BY 1, 2, 3`,
	`SELECT partner_id, kind, SUM(points) FROM transactions WHERE business_date = $1 GROUP BY 1, 2`,
	`SELECT a.kind, SUM(e.amount)
	 FROM transactions AS t JOIN entries AS e ON e.transaction_id = t.id JOIN accounts AS a ON a.id = e.account_id
	 WHERE t.business_date = $1 GROUP BY a.kind`,
}

func (w *benchWindow) scan(b *testing.B, pool *pgxpool.Pool) time.Duration {
	start := time.Now()
	for _, sql := range bareScan {
		rows, err := pool.Query(w.ctx, sql, benchDay.Format(time.DateOnly))
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

func (w *benchWindow) clear(b *testing.B, pool *pgxpool.Pool) (time.Duration, []byte) {
	runner, err := txn.New(w.ctx, pool)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	body, err := clearing.New(clearing.Config{Tx: runner, Clock: benchClock}).Run(w.ctx, benchDay)
	d := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	return d, body
}

// check compares a report with the generator's totals.
func (w *benchWindow) check(b *testing.B, body []byte) {
	r, err := clearing.Decode(body)
	if err != nil {
		b.Fatal(err)
	}
	rec := r.Reconciliation
	if rec.RedeemedPoints != w.burned || rec.IssuedPoints != w.issued || rec.ExpiredPoints != w.expired || len(r.Flows) == 0 {
		b.Fatalf("report: redeemed %d issued %d expired %d, %d flows; generated %d, %d, %d",
			rec.RedeemedPoints, rec.IssuedPoints, rec.ExpiredPoints, len(r.Flows), w.burned, w.issued, w.expired)
	}
}

func (w *benchWindow) bench(b *testing.B) {
	// Warm the caches with one of each, untimed, and check the report.
	w.scan(b, w.bare)
	_, want := w.clear(b, w.pool)
	w.check(b, want)
	w.reopen(b)
	if os.Getenv("COALITION_BENCH_EXPLAIN") == "1" {
		w.explain(b)
	}
	indexScan := os.Getenv("COALITION_BENCH_INDEXSCAN") == "1"
	var clear, bare, index time.Duration
	b.ResetTimer()
	for range b.N {
		// The timer runs for the clearing only; the bare scan is timed by
		// hand in the same iteration, just before it, so that the machine's
		// noise and the state of the caches fall on both alike.
		b.StopTimer()
		bare += w.scan(b, w.bare)
		if indexScan {
			index += w.scan(b, w.pool)
		}
		b.StartTimer()
		d, body := w.clear(b, w.pool)
		b.StopTimer()
		clear += d
		if string(body) != string(want) {
			b.Fatal("a re-run produced a different report")
		}
		w.reopen(b)
		b.StartTimer()
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	b.ReportMetric(per(bare), "bare-ns/op")
	b.ReportMetric(per(clear)/per(bare), "x-bare")
	b.ReportMetric(float64(w.n)/(per(clear)/1e9), "postings/s")
	if indexScan {
		b.ReportMetric(per(index), "indexscan-ns/op")
	}
}

// explain logs the plan of each statement of one clearing run through the
// project's pool, with actual times (auto_explain, sent back as notices;
// statements under 1 ms are left out), and EXPLAIN ANALYZE of the bare scan
// with the planner's defaults. Then it re-opens the window.
func (w *benchWindow) explain(b *testing.B) {
	var mu sync.Mutex
	var plans []string
	cfg := w.pool.Config()
	project := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if err := project(ctx, c); err != nil {
			return err
		}
		_, err := c.Exec(ctx, `LOAD 'auto_explain';
			SET auto_explain.log_min_duration = 1; SET auto_explain.log_analyze = on;
			SET auto_explain.log_buffers = on; SET auto_explain.log_level = notice`)
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
	d, _ := w.clear(b, pool)
	w.reopen(b)
	mu.Lock()
	b.Logf("clearing took %s; its statements:\n%s", d, strings.Join(plans, "\n\n"))
	mu.Unlock()
	for _, sql := range bareScan {
		rows, err := w.bare.Query(w.ctx, `EXPLAIN (ANALYZE, BUFFERS) `+sql, benchDay.Format(time.DateOnly))
		if err != nil {
			b.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("bare scan, planner defaults:\n%s\n%s", sql, strings.Join(lines, "\n"))
	}
}
