package analytics

import (
	"context"
	"fmt"
	"os"
	"reflect"
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
)

// BenchmarkFigures times a page of figures over a year — the last 365 days
// and the 365 before, for the network and for one partner — computed from
// the rollups, against the same figures computed by a direct scan of the
// ledger's tables, and against the page as stored (the daily job computes
// this one, a standard period), timed in the same iterations. The ledger holds N
// purchases in each of the two years (2N in all), written set-based
// straight into the tables; the 730 days are then rolled up by RollUp, as
// the daily job would have, and both ways must give the same report
// before anything is timed. The figures and the command are in
// docs/BENCHMARKS.md.
//
// Sizes: N = 1e5 by default; COALITION_BENCH_LARGE=1 adds 1e6;
// COALITION_BENCH_PURCHASES=1e5,1e6 chooses them outright.
//
// Metrics: ns/op is the page computed from the rollups (what
// analytics.Network or Partner cost for a period asked for the first
// time); direct-ns/op the same report from the ledger's tables; x-direct
// their ratio; stored-ns/op the page read as stored.
func BenchmarkFigures(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run("purchases="+sizeName(n), func(b *testing.B) {
			c := newBenchCoalition(b, n)
			b.Run("network", func(b *testing.B) { c.bench(b, nil) })
			p := c.partners[0]
			b.Run("partner", func(b *testing.B) { c.bench(b, &p) })
		})
	}
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

// The benchmark's two years of business days, and the page's period: the
// last 365 days (the second year), against the 365 before.
var (
	benchStart = date(2024, time.July, 1)
	benchDays  = 730
	benchTo    = benchStart.AddDate(0, 0, benchDays-1)
	benchFrom  = benchTo.AddDate(0, 0, -364)
)

const benchPartners = 20

type benchCoalition struct {
	ctx       context.Context
	pool      *pgxpool.Pool // the project's pool: enable_seqscan=off, jit=off
	bare      *pgxpool.Pool // PostgreSQL's planner defaults (jit off as well), for the direct scan
	analytics *Analytics
	partners  []coalition.PartnerID
}

func newBenchCoalition(b *testing.B, n int64) *benchCoalition {
	ctx := context.Background()
	c := &benchCoalition{ctx: ctx, pool: pgtest.NewDB(b)}
	cfg := c.pool.Config()
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `SET jit = off`)
		return err
	}
	var err error
	if c.bare, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.bare.Close)
	runner, err := txn.New(ctx, c.pool)
	if err != nil {
		b.Fatal(err)
	}
	moscow, _ := time.LoadLocation("Europe/Moscow")
	clock := func() time.Time { return time.Date(2024, 7, 1, 8, 0, 0, 0, moscow) }
	if err := ledger.New(ledger.Config{Tx: runner, Clock: clock}).Bootstrap(ctx, ledger.Settings{Name: "Bench", Currency: "RUB",
		TimeZone: "Europe/Moscow", PointValueMinor: 100}); err != nil {
		b.Fatal(err)
	}
	reg := partners.New(partners.Config{Tx: runner, Clock: clock})
	for i := range benchPartners {
		p, err := reg.Add(ctx, partners.Partner{Code: fmt.Sprintf("p%02d", i), Name: fmt.Sprintf("Partner %d", i), Kind: "shop",
			EarnRateBP: 500, PointsTTLDays: 365})
		if err != nil {
			b.Fatal(err)
		}
		c.partners = append(c.partners, p.ID)
	}
	start := time.Now()
	if err := c.generate(b, n); err != nil {
		b.Fatal(err)
	}
	generated := time.Since(start)

	// The days are rolled up as the daily job would have: a month of
	// windows cleared at a time, each month followed by a vacuum (as
	// autovacuum would have run meanwhile), and the last day alone, timed:
	// the daily job's roll-up of a day and its computing the standard
	// pages. Then the pages alone, timed again.
	c.analytics = New(Config{Tx: runner})
	clear := func(from, to int) {
		if _, err := c.bare.Exec(ctx, `
			INSERT INTO clearing_reports (business_date, report, sha256, cleared_at)
			SELECT business_date, '\x7b7d'::BYTEA, '\x00'::BYTEA, closed_at FROM settlement_windows
			WHERE status = 'closed' AND business_date >= $1 AND business_date < $2`,
			benchStart.AddDate(0, 0, from), benchStart.AddDate(0, 0, to)); err != nil {
			b.Fatal(err)
		}
	}
	start = time.Now()
	days := 0
	for first := 0; first < benchDays-1; first += lastMonth {
		clear(first, min(first+lastMonth, benchDays-1))
		n, err := c.analytics.RollUp(ctx)
		if err != nil {
			b.Fatal(err)
		}
		days += n
		c.analyse(b)
	}
	caughtUp := time.Since(start)
	clear(benchDays-1, benchDays)
	start = time.Now()
	one, err := c.analytics.RollUp(ctx)
	if err != nil {
		b.Fatal(err)
	}
	daily := time.Since(start)
	if days += one; days != benchDays {
		b.Fatalf("rolled up %d days, want %d", days, benchDays)
	}
	c.analyse(b)
	if _, err := c.bare.Exec(ctx, `DELETE FROM analytics_reports`); err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	if err := c.analytics.warm(ctx); err != nil {
		b.Fatal(err)
	}
	warm := time.Since(start)
	promotions := c.timePromotionRollUp(b, benchTo)
	var activity, promotionRows int64
	var size, rollups string
	if err := c.bare.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM analytics_activity), (SELECT count(*) FROM analytics_promotion_members), pg_size_pretty(pg_database_size(current_database())),
		       pg_size_pretty((SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class AS c
		                       WHERE c.relname LIKE 'analytics\_%' AND c.relkind = 'r')::BIGINT)`).Scan(&activity, &promotionRows, &size, &rollups); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d purchases a year over two years generated in %s; %d days rolled up in %s, a month at a time; "+
		"the last day's roll-up and standard pages %s, the pages alone %s, its promotion statements (again) %s; "+
		"%d member-span bitmaps, %d of promotions; database %s, rollups %s",
		n, generated.Round(time.Millisecond), days-one, caughtUp.Round(time.Millisecond), daily.Round(time.Millisecond),
		warm.Round(time.Millisecond), promotions.Round(time.Millisecond), activity, promotionRows, size, rollups)

	// The three ways give the same report, or nothing is worth timing.
	for _, p := range []*coalition.PartnerID{nil, &c.partners[0]} {
		got, want := c.page(b, p), c.direct(b, p)
		if !reflect.DeepEqual(got, want) {
			b.Fatalf("the rollups' report differs from the direct scan's (partner %v):\nrollups %+v\n direct %+v", p, got, want)
		}
		if stored := c.stored(b, p); !reflect.DeepEqual(stored, got) {
			b.Fatalf("the stored report differs from the one computed (partner %v):\nstored %+v\ncomputed %+v", p, stored, got)
		}
		if got.Current.ActiveMembers == 0 || len(got.Current.Shoppers) == 0 || len(got.Current.Cohorts) == 0 || got.Previous.Purchases == 0 ||
			len(got.Current.Promotions) == 0 || len(got.Previous.Promotions) == 0 {
			b.Fatalf("an empty report: %+v", got)
		}
	}
	return c
}

// generate writes two years of a coalition's ledger, set-based, straight
// into the tables, in the shapes the ledger writes them, rows that the
// figures read only (no lots, no holds, no earns' entries, no budgets):
//
//   - n/5·2 members over the two years, member i enrolled on day
//     i·730/members at partner i%20, one in three by QR (self_enrolments,
//     at a point of sale for half of them);
//   - 2n earns, earn e on day e%730 by one of the members enrolled by
//     then, at the member's home partner three times in five, else at
//     another: amount 1.00 to 500.99, one point per 2.00;
//   - 0.8n burns, of the member's home partner's points, at the home one
//     time in four, else elsewhere (a lot consumption each); a refund of
//     one point of every hundredth;
//   - 2n/100 expiries, and 2n/100 refunds of half an earn, with the
//     issuer's entry that the clawback is read from;
//   - every earn's base line (earn_lines), and on one earn in six a
//     promotion's, an offer's or a coupon's line (promotionSpecs), on the
//     earn or on a bonus transaction of its funder.
//
// Every id is md5 of a name and an ordinal. Foreign keys are not checked
// during the load (session_replication_role = replica): lot consumptions
// name lots that are not there, and entries accounts.
func (c *benchCoalition) generate(b *testing.B, n int64) error {
	ctx := c.ctx
	conn, err := c.bare.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		return err
	}
	defer func() { _, _ = conn.Exec(ctx, `RESET session_replication_role`) }()
	var partnerIDs, issued []uuid.UUID
	var operator uuid.UUID
	if err := conn.QueryRow(ctx, `SELECT id FROM partners WHERE kind = 'operator'`).Scan(&operator); err != nil {
		return err
	}
	rows, err := conn.Query(ctx, `SELECT id, issued_account_id FROM partners WHERE kind <> 'operator' ORDER BY code`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, acc uuid.UUID
		if err := rows.Scan(&id, &acc); err != nil {
			rows.Close()
			return err
		}
		partnerIDs, issued = append(partnerIDs, id), append(issued, acc)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// Every statement reads its numbers from one row, g. The members
	// enrolled by day d are 0 .. cnt(d)-1, cnt(d) = (d+1)·members/730.
	const g = `
		WITH g (members, earns, burns, others, days, first_day, partner, issued, operator) AS (
			SELECT $1::BIGINT, $2::BIGINT, $3::BIGINT, $4::BIGINT, $5::BIGINT, $6::DATE, $7::UUID[], $8::UUID[], $9::UUID)`
	members := max(2*n/5, 1)
	args := []any{members, 2 * n, 8 * n / 10, max(2*n/100, 1), int64(benchDays), benchStart, partnerIDs, issued, operator}
	var took []string
	for _, step := range []struct{ what, sql string }{
		{"bootstrap's window", `
			DELETE FROM settlement_windows`},
		{"windows", `
			INSERT INTO settlement_windows (business_date, status, opened_at, closed_at)
			SELECT g.first_day + d::INT, CASE WHEN d < g.days THEN 'closed' ELSE 'open' END,
			       (g.first_day + d::INT)::TIMESTAMP AT TIME ZONE 'Europe/Moscow' - INTERVAL '23 hours 30 minutes',
			       CASE WHEN d < g.days THEN (g.first_day + d::INT)::TIMESTAMP AT TIME ZONE 'Europe/Moscow' + INTERVAL '1 day 30 minutes' END
			FROM g, generate_series(0::BIGINT, g.days) AS d`},
		{"members", `
			INSERT INTO members (id, card_number, qr_token, referral_code, home_partner_id,
			                     points_account_id, debt_account_id, enrolled_at)
			SELECT md5('m' || i)::UUID, lpad(i::TEXT, 16, '0'), 'q' || i, 'r' || i, g.partner[i % 20 + 1],
			       md5('ma' || i)::UUID, md5('md' || i)::UUID,
			       (g.first_day + (i * g.days / g.members)::INT)::TIMESTAMP AT TIME ZONE 'Europe/Moscow'
			           + INTERVAL '10 hours' + (i % 3000) * INTERVAL '1 second'
			FROM g, generate_series(0::BIGINT, g.members - 1) AS i`},
		{"self-enrolments", `
			INSERT INTO self_enrolments (contact_hash, contact_kind, partner_id, location, channel, enrol_key, claimed_at,
			                             member_id, enrolled_at)
			SELECT decode(md5('c' || i), 'hex'), 'phone', m.home_partner_id, CASE WHEN i % 2 = 0 THEN 'counter' ELSE '' END,
			       'qr', 'e' || i, m.enrolled_at, m.id, m.enrolled_at
			FROM g, generate_series(0::BIGINT, g.members - 1, 3) AS i
			JOIN members AS m ON m.id = md5('m' || i)::UUID`},
		{"earns", `
			INSERT INTO transactions (id, kind, partner_id, member_id, business_date, points, amount_minor, currency,
			                          order_id, created_at)
			SELECT md5('e' || e)::UUID, 'earn',
			       g.partner[CASE WHEN e % 5 < 3 THEN m % 20 ELSE (m + 1 + e % 19) % 20 END + 1],
			       md5('m' || m)::UUID, g.first_day + d::INT, 1 + (100 + e * 7907 % 50000) / 200 + ` + ownPromotionPoints + `,
			       100 + e * 7907 % 50000, 'RUB',
			       'o' || e, (g.first_day + d::INT)::TIMESTAMP AT TIME ZONE 'Europe/Moscow' + INTERVAL '11 hours'
			           + (e / g.days % 30000) * INTERVAL '1 second'
			FROM g, generate_series(0::BIGINT, g.earns - 1) AS e,
			     LATERAL (SELECT e % g.days) AS x (d),
			     LATERAL (SELECT e * 48271 % GREATEST((d + 1) * g.members / g.days, 1)) AS y (m)`},
		{"base lines", `
			INSERT INTO earn_lines (transaction_id, seq, rule, ref, description, points, funder_id)
			SELECT t.id, 1, 'base', '', 'base rate', 1 + t.amount_minor / 200, t.partner_id
			FROM transactions AS t WHERE t.kind = 'earn'`},
		{"promotion lines on earns", `
			INSERT INTO earn_lines (transaction_id, seq, rule, ref, description, points, funder_id)
			SELECT t.id, 2, s.rule, s.ref, s.rule || ' ' || s.ref, s.points, t.partner_id
			FROM g CROSS JOIN LATERAL (` + promotionSpecs + `) AS s
			JOIN transactions AS t ON t.id = md5('e' || s.e)::UUID
			WHERE s.funder = 0`},
		{"promotion bonuses", `
			INSERT INTO transactions (id, kind, partner_id, member_id, business_date, points, original_id, created_at)
			SELECT md5('pb' || s.e)::UUID, 'bonus',
			       CASE s.funder WHEN 1 THEN g.operator ELSE g.partner[(array_position(g.partner, t.partner_id) + 6) % 20 + 1] END,
			       t.member_id, t.business_date, s.points, t.id, t.created_at
			FROM g CROSS JOIN LATERAL (` + promotionSpecs + `) AS s
			JOIN transactions AS t ON t.id = md5('e' || s.e)::UUID
			WHERE s.funder <> 0`},
		{"promotion lines on bonuses", `
			INSERT INTO earn_lines (transaction_id, seq, rule, ref, description, points, funder_id)
			SELECT t.id, 1, s.rule, s.ref, s.rule || ' ' || s.ref, s.points, t.partner_id
			FROM g CROSS JOIN LATERAL (` + promotionSpecs + `) AS s
			JOIN transactions AS t ON t.id = md5('pb' || s.e)::UUID
			WHERE s.funder <> 0`},
		{"burns", `
			INSERT INTO transactions (id, kind, partner_id, member_id, business_date, points, order_id, created_at)
			SELECT md5('b' || k)::UUID, 'burn', g.partner[r + 1], md5('m' || m)::UUID, g.first_day + d::INT, -(1 + k % 300),
			       'ob' || k, (g.first_day + d::INT)::TIMESTAMP AT TIME ZONE 'Europe/Moscow' + INTERVAL '12 hours'
			           + (k / g.days % 30000) * INTERVAL '1 second'
			FROM g, generate_series(0::BIGINT, g.burns - 1) AS k,
			     LATERAL (SELECT k % g.days) AS x (d),
			     LATERAL (SELECT k * 69621 % GREATEST((d + 1) * g.members / g.days, 1)) AS y (m),
			     LATERAL (SELECT CASE WHEN k % 4 = 0 THEN m % 20 ELSE (m + 1 + k % 19) % 20 END) AS z (r)`},
		{"burn consumptions", `
			INSERT INTO lot_consumptions (id, transaction_id, lot_id, member_id, issuer_id, redeemer_id, kind, points,
			                              business_date, created_at)
			SELECT md5('c' || k)::UUID, t.id, md5('l' || k)::UUID, t.member_id, m.home_partner_id, t.partner_id, 'burn', -t.points,
			       t.business_date, t.created_at
			FROM g, generate_series(0::BIGINT, g.burns - 1) AS k
			JOIN transactions AS t ON t.id = md5('b' || k)::UUID
			JOIN members AS m ON m.id = t.member_id`},
		{"burn refunds", `
			INSERT INTO transactions (id, kind, partner_id, member_id, business_date, points, original_id, created_at)
			SELECT md5('br' || k)::UUID, 'burn_refund', t.partner_id, t.member_id, t.business_date, 1, t.id,
			       t.created_at + INTERVAL '1 hour'
			FROM g, generate_series(0::BIGINT, g.burns - 1, 100) AS k
			JOIN transactions AS t ON t.id = md5('b' || k)::UUID`},
		{"burn refund consumptions", `
			INSERT INTO lot_consumptions (id, transaction_id, lot_id, member_id, issuer_id, redeemer_id, kind, points,
			                              business_date, created_at)
			SELECT md5('cr' || k)::UUID, md5('br' || k)::UUID, c.lot_id, c.member_id, c.issuer_id, c.redeemer_id, 'burn_refund', -1,
			       c.business_date, c.created_at + INTERVAL '1 hour'
			FROM g, generate_series(0::BIGINT, g.burns - 1, 100) AS k
			JOIN lot_consumptions AS c ON c.id = md5('c' || k)::UUID`},
		{"expiries", `
			INSERT INTO transactions (id, kind, partner_id, member_id, business_date, points, created_at)
			SELECT md5('x' || k)::UUID, 'expire', g.partner[m % 20 + 1], md5('m' || m)::UUID, g.first_day + d::INT, -(1 + k % 100),
			       (g.first_day + d::INT)::TIMESTAMP AT TIME ZONE 'Europe/Moscow' + INTERVAL '1 hour'
			FROM g, generate_series(0::BIGINT, g.others - 1) AS k,
			     LATERAL (SELECT k * 37 % g.days) AS x (d),
			     LATERAL (SELECT k * 7 % GREATEST((d + 1) * g.members / g.days, 1)) AS y (m)`},
		{"expiry consumptions", `
			INSERT INTO lot_consumptions (id, transaction_id, lot_id, member_id, issuer_id, kind, points, business_date, created_at)
			SELECT md5('cx' || k)::UUID, t.id, md5('lx' || k)::UUID, t.member_id, t.partner_id, 'expire', -t.points,
			       t.business_date, t.created_at
			FROM g, generate_series(0::BIGINT, g.others - 1) AS k
			JOIN transactions AS t ON t.id = md5('x' || k)::UUID`},
		{"refunds", `
			INSERT INTO transactions (id, kind, partner_id, member_id, business_date, points, amount_minor, currency,
			                          order_id, original_id, created_at)
			SELECT md5('rf' || k)::UUID, 'earn_refund', t.partner_id, t.member_id, t.business_date, -(1 + t.points / 2),
			       t.amount_minor / 2, 'RUB', t.order_id, t.id, t.created_at + INTERVAL '1 hour'
			FROM g CROSS JOIN generate_series(0::BIGINT, g.others - 1) AS k
			JOIN transactions AS t ON t.id = md5('e' || (k * 100 % g.earns))::UUID`},
		{"refund entries", `
			INSERT INTO entries (transaction_id, seq, account_id, amount)
			SELECT t.id, s.seq, CASE s.seq WHEN 1 THEN g.issued[array_position(g.partner, t.partner_id)] ELSE md5('ma' || t.member_id)::UUID END,
			       CASE s.seq WHEN 1 THEN -t.points ELSE t.points END
			FROM g, transactions AS t, (VALUES (1), (2)) AS s (seq)
			WHERE t.kind = 'earn_refund'`},
	} {
		t := time.Now()
		if _, err := conn.Exec(ctx, g+step.sql, args...); err != nil {
			return fmt.Errorf("generate %s: %w", step.what, err)
		}
		took = append(took, fmt.Sprintf("%s %s", step.what, time.Since(t).Round(time.Millisecond)))
	}
	t := time.Now()
	for _, table := range []string{"settlement_windows", "clearing_reports", "members", "self_enrolments", "transactions", "entries",
		"lot_consumptions", "earn_lines"} {
		if _, err := conn.Exec(ctx, `VACUUM ANALYZE `+table); err != nil {
			return fmt.Errorf("vacuum %s: %w", table, err)
		}
	}
	b.Logf("generated: %s; vacuum analyze %s", strings.Join(took, ", "), time.Since(t).Round(time.Millisecond))
	return nil
}

// promotionSpecs are the bonus lines of the earns that carry one, one line
// an earn at most: earn e's rule, code, points and funder (0 the till's
// partner, on the earn itself; 1 the operator and 2 another partner, each
// on a bonus transaction naming the earn, as the ledger posts points that
// someone else funds). Every tenth earn a promotion of four, funded by
// each in turn; every 25th a personal offer of three, at the till's cost;
// every 50th a coupon of those offers, at the operator's. Read with g.
const promotionSpecs = `
	SELECT e, 'promotion' AS rule, 'promo-' || (e / 10 % 4) AS ref, 20::BIGINT AS points, (e / 10 % 3)::INT AS funder
	FROM generate_series(0::BIGINT, g.earns - 1, 10) AS e
	UNION ALL
	SELECT e, 'offer', 'offer-' || (e / 25 % 3), 50, 0 FROM generate_series(1::BIGINT, g.earns - 1, 25) AS e
	UNION ALL
	SELECT e, 'coupon', 'offer-' || (e / 50 % 3), 30, 1 FROM generate_series(2::BIGINT, g.earns - 1, 50) AS e`

// ownPromotionPoints are the points of earn e's promotion line funded by
// the till's partner (promotionSpecs), part of the earn's own points.
const ownPromotionPoints = `CASE WHEN e % 10 = 0 AND e / 10 % 3 = 0 THEN 20 WHEN e % 25 = 1 THEN 50 ELSE 0 END`

// lastMonth is the days cleared and rolled up at a time.
const lastMonth = 30

// analyse brings the rollups' statistics up to date, as autovacuum does.
func (c *benchCoalition) analyse(b *testing.B) {
	for _, table := range []string{"analytics_days", "analytics_members", "analytics_enrolments", "analytics_partner_days",
		"analytics_point_flows", "analytics_activity", "analytics_repeat_days", "analytics_cohorts", "analytics_cohort_sizes",
		"analytics_promotion_days", "analytics_promotion_members"} {
		if _, err := c.bare.Exec(c.ctx, `VACUUM ANALYZE `+table); err != nil {
			b.Fatal(err)
		}
	}
}

// page is the report computed from the rollups, as for a period asked for
// the first time.
func (c *benchCoalition) page(b *testing.B, p *coalition.PartnerID) Report {
	s := scope{id: network}
	if p != nil {
		s = scope{id: uuid.UUID(*p), partner: true}
	}
	r, err := c.analytics.compute(c.ctx, s, benchFrom, benchTo)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// stored is the report as a page reads it when the daily job computed it
// already (a standard period) or someone asked for it since the last day
// was rolled up.
func (c *benchCoalition) stored(b *testing.B, p *coalition.PartnerID) Report {
	var r Report
	var err error
	if p == nil {
		r, err = c.analytics.Network(c.ctx, benchFrom, benchTo)
	} else {
		r, err = c.analytics.Partner(c.ctx, *p, benchFrom, benchTo)
	}
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func (c *benchCoalition) bench(b *testing.B, p *coalition.PartnerID) {
	c.page(b, p) // warm the caches, untimed
	c.direct(b, p)
	if os.Getenv("COALITION_BENCH_EXPLAIN") == "1" {
		c.explain(b, p)
	}
	c.directPromotions(b, p)
	var page, direct, stored time.Duration
	b.ResetTimer()
	for range b.N {
		// The timer runs for the page computed from the rollups; the
		// direct scan and the stored page are timed by hand in the same
		// iteration, so that the machine's noise falls on all alike.
		b.StopTimer()
		start := time.Now()
		c.direct(b, p)
		direct += time.Since(start)
		start = time.Now()
		c.stored(b, p)
		stored += time.Since(start)
		b.StartTimer()
		start = time.Now()
		c.page(b, p)
		page += time.Since(start)
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	b.ReportMetric(per(direct), "direct-ns/op")
	b.ReportMetric(per(direct)/per(page), "x-direct")
	b.ReportMetric(per(stored), "stored-ns/op")
	b.Logf("page computed from the rollups %s, direct scan %s: %.1f× faster; stored page %s",
		(page / time.Duration(b.N)).Round(time.Microsecond*100), (direct / time.Duration(b.N)).Round(time.Millisecond),
		per(direct)/per(page), (stored / time.Duration(b.N)).Round(time.Microsecond*10))
}

// direct computes the report the page shows straight from the ledger's
// tables, with PostgreSQL's planner defaults: what a page would cost
// without rollups. The same definitions as the rollups' (see Figures),
// but for one shortcut: an enrolment's month is its enrolled_at's in the
// coalition's time zone, which is its window's in this data.
func (c *benchCoalition) direct(b *testing.B, p *coalition.PartnerID) Report {
	from, to := benchFrom, benchTo
	n := int(to.Sub(from).Hours()/24) + 1
	r := Report{Current: Figures{From: from, To: to}, Previous: Figures{From: from.AddDate(0, 0, -n), To: from.AddDate(0, 0, -1)}}
	var last time.Time
	if err := c.bare.QueryRow(c.ctx, `SELECT max(business_date) FROM analytics_days`).Scan(&last); err != nil {
		b.Fatal(err)
	}
	r.RolledUpTo = last
	for _, f := range []*Figures{&r.Current, &r.Previous} {
		if err := directFigures(c.ctx, c.bare, p, f); err != nil {
			b.Fatal(err)
		}
		f.finish("RUB")
		if p != nil {
			suppress(*p, f)
			suppressPromotions(*p, f)
		}
	}
	if p != nil {
		r.Partner = *p
	}
	return r
}

func directFigures(ctx context.Context, pool *pgxpool.Pool, p *coalition.PartnerID, f *Figures) error {
	args := []any{f.From, f.To}
	// The scope's conditions: on a purchase's partner, a member's home, a
	// points flow's issuer and redeemer.
	at, home, issuer, redeemer, either, cohort := "", "", "", "", "", ""
	if p != nil {
		args = append(args, *p)
		at, home = "AND t.partner_id = $3", "AND m.home_partner_id = $3"
		issuer, redeemer = "AND issuer_id = $3", "AND redeemer_id = $3"
		either = "AND (issuer_id = $3 OR redeemer_id = $3)"
		cohort = "AND t.partner_id = $3 AND em.home_partner_id = $3"
	}
	b := &pgx.Batch{}
	b.Queue(`
		SELECT count(*) FILTER (WHERE t.kind = 'earn'), COALESCE(SUM(t.amount_minor) FILTER (WHERE t.kind = 'earn'), 0)::BIGINT,
		       count(*) FILTER (WHERE t.kind = 'earn_refund' AND t.amount_minor IS NOT NULL),
		       COALESCE(SUM(t.amount_minor) FILTER (WHERE t.kind = 'earn_refund'), 0)::BIGINT,
		       COALESCE(SUM(t.points) FILTER (WHERE t.kind IN ('earn', 'bonus')), 0)::BIGINT
		FROM transactions AS t
		WHERE t.business_date BETWEEN $1 AND $2 `+at, args...).QueryRow(func(row pgx.Row) error {
		return row.Scan(&f.Purchases, &f.Spent.Minor, &f.Refunds, &f.Refunded.Minor, &f.PointsIssued)
	})
	owner := ""
	if p != nil {
		owner = "AND a.owner_id = $3"
	}
	b.Queue(`
		SELECT COALESCE(SUM(e.amount), 0)::BIGINT
		FROM transactions AS t
		JOIN entries AS e ON e.transaction_id = t.id
		JOIN accounts AS a ON a.id = e.account_id
		WHERE t.business_date BETWEEN $1 AND $2 AND t.kind = 'earn_refund' AND a.kind = 'partner_issued' `+owner, args...).
		QueryRow(func(row pgx.Row) error { return row.Scan(&f.PointsClawedBack) })
	b.Queue(`
		SELECT COALESCE(SUM(points) FILTER (WHERE kind IN ('burn', 'burn_refund') `+redeemer+`), 0)::BIGINT,
		       COALESCE(SUM(points) FILTER (WHERE kind IN ('burn', 'burn_refund') AND redeemer_id <> issuer_id `+issuer+`), 0)::BIGINT,
		       COALESCE(SUM(points) FILTER (WHERE kind = 'expire' `+issuer+`), 0)::BIGINT
		FROM lot_consumptions
		WHERE business_date BETWEEN $1 AND $2`, args...).QueryRow(func(row pgx.Row) error {
		return row.Scan(&f.PointsBurned, &f.PointsBurnedElsewhere, &f.PointsExpired)
	})
	b.Queue(`
		SELECT m.home_partner_id, COALESCE(s.channel, 'api'), COALESCE(s.location, ''), count(*)
		FROM members AS m LEFT JOIN self_enrolments AS s ON s.member_id = m.id
		WHERE m.enrolled_at >= COALESCE((SELECT max(closed_at) FROM settlement_windows WHERE business_date < $1),
		                                TIMESTAMPTZ '0001-01-01 00:00:00+00')
		  AND m.enrolled_at < (SELECT max(closed_at) FROM settlement_windows WHERE business_date <= $2) `+home+`
		GROUP BY 1, 2, 3
		ORDER BY 1, 2, 3`, args...).Query(func(rows pgx.Rows) error {
		var a Acquisition
		_, err := pgx.ForEachRow(rows, []any{&a.Partner, &a.Channel, &a.Location, &a.Members}, func() error {
			f.Acquired = append(f.Acquired, a)
			f.AcquiredTotal += a.Members
			return nil
		})
		return err
	})
	b.Queue(`
		SELECT count(*), count(*) FILTER (WHERE s.n > 1)
		FROM (SELECT t.member_id, count(*) AS n FROM transactions AS t
		      WHERE t.kind = 'earn' AND t.business_date BETWEEN $1 AND $2 `+at+`
		      GROUP BY t.member_id) AS s`, args...).QueryRow(func(row pgx.Row) error {
		return row.Scan(&f.ActiveMembers, &f.RepeatMembers)
	})
	shoppers := ""
	if p != nil {
		shoppers = "AND (t.partner_id = $3 OR m.home_partner_id = $3)"
	}
	b.Queue(`
		SELECT m.home_partner_id, t.partner_id, count(DISTINCT t.member_id)
		FROM transactions AS t JOIN members AS m ON m.id = t.member_id
		WHERE t.kind = 'earn' AND t.business_date BETWEEN $1 AND $2 `+shoppers+`
		GROUP BY 1, 2`, args...).Query(func(rows pgx.Rows) error {
		var s Shoppers
		_, err := pgx.ForEachRow(rows, []any{&s.Home, &s.At, &s.Members}, func() error {
			f.Shoppers = append(f.Shoppers, s)
			return nil
		})
		return err
	})
	b.Queue(`
		SELECT issuer_id, redeemer_id, SUM(points)::BIGINT
		FROM lot_consumptions
		WHERE business_date BETWEEN $1 AND $2 AND kind IN ('burn', 'burn_refund') `+either+`
		GROUP BY 1, 2
		HAVING SUM(points) <> 0
		ORDER BY 1, 2`, args...).Query(func(rows pgx.Rows) error {
		var fl Flow
		_, err := pgx.ForEachRow(rows, []any{&fl.Issuer, &fl.Redeemer, &fl.Points}, func() error {
			f.Flows = append(f.Flows, fl)
			return nil
		})
		return err
	})
	queueDirectPromotions(b, p, f, args)
	// Cohorts: the whole months the period touches.
	cargs := []any{month(f.From), month(f.To).AddDate(0, 1, 0)}
	if p != nil {
		cargs = append(cargs, *p)
	}
	b.Queue(`
		WITH em AS (
		    SELECT m.id, m.home_partner_id, date_trunc('month', m.enrolled_at AT TIME ZONE 'Europe/Moscow')::DATE AS month
		    FROM members AS m
		), sizes AS (
		    SELECT em.month, count(*) AS members FROM em WHERE true `+strings.ReplaceAll(home, "m.", "em.")+` GROUP BY em.month
		)
		SELECT em.month, date_trunc('month', t.business_date)::DATE, sizes.members, count(DISTINCT t.member_id)
		FROM transactions AS t
		JOIN em ON em.id = t.member_id
		JOIN sizes ON sizes.month = em.month
		WHERE t.kind = 'earn' AND t.business_date >= $1 AND t.business_date < $2 `+cohort+`
		GROUP BY 1, 2, 3
		ORDER BY 1, 2`, cargs...).Query(func(rows pgx.Rows) error {
		var co Cohort
		_, err := pgx.ForEachRow(rows, []any{&co.EnrolmentMonth, &co.ActivityMonth, &co.Enrolled, &co.Active}, func() error {
			f.Cohorts = append(f.Cohorts, co)
			return nil
		})
		return err
	})
	return pool.SendBatch(ctx, b).Close()
}

// explain logs the plan of every statement of one page over 1 ms, with
// actual times (auto_explain, sent back as notices). Run it with -v.
func (c *benchCoalition) explain(b *testing.B, p *coalition.PartnerID) {
	var mu sync.Mutex
	var plans []string
	cfg := c.pool.Config()
	project := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if err := project(ctx, conn); err != nil {
			return err
		}
		_, err := conn.Exec(ctx, `LOAD 'auto_explain';
			SET auto_explain.log_min_duration = 1; SET auto_explain.log_analyze = on;
			SET auto_explain.log_buffers = on; SET auto_explain.log_level = notice`)
		return err
	}
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		defer mu.Unlock()
		plans = append(plans, n.Message)
	}
	pool, err := pgxpool.NewWithConfig(c.ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	runner, err := txn.New(c.ctx, pool)
	if err != nil {
		b.Fatal(err)
	}
	a := New(Config{Tx: runner})
	s := scope{id: network}
	if p != nil {
		s = scope{id: uuid.UUID(*p), partner: true}
	}
	start := time.Now()
	if _, err := a.compute(c.ctx, s, benchFrom, benchTo); err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	mu.Lock()
	b.Logf("the page took %s; its statements:\n%s", d, strings.Join(plans, "\n\n"))
	mu.Unlock()
}

// queueDirectPromotions queues the period's promotion results computed
// straight from the ledger: the period's promotion lines with their
// purchases, and what every member spent at each till each day of the
// period. A participant-day is a (member, day) with the promotion's line
// at the till; the comparable days are the till's buyer-days on the days
// the promotion was given there, less the participants' (an anti-join of
// buyers and participants, the literal form, took 4.9 s of the network
// page's scan at 10^5, a fair scan does not). args are the period and, for a partner,
// the partner: its till's promotions and those it funded elsewhere.
func queueDirectPromotions(b *pgx.Batch, p *coalition.PartnerID, f *Figures, args []any) {
	mine := ""
	if p != nil {
		mine = "AND (x.partner_id = $3 OR l.funder_id = $3)"
	}
	b.Queue(`
		WITH lines AS (
		    SELECT l.rule, l.ref, x.partner_id AS till, l.funder_id AS funder, x.member_id, x.id AS purchase, x.business_date AS day,
		           l.points
		    FROM earn_lines AS l
		    JOIN transactions AS t ON t.id = l.transaction_id
		    JOIN transactions AS x ON x.id = CASE WHEN t.kind = 'bonus' THEN t.original_id ELSE t.id END
		    WHERE t.business_date BETWEEN $1 AND $2 AND t.kind IN ('earn', 'bonus') AND l.rule IN ('promotion', 'offer', 'coupon')
		      AND l.points > 0 `+mine+`
		), spend AS (
		    SELECT partner_id AS till, member_id, business_date AS day, SUM(amount_minor)::BIGINT AS minor
		    FROM transactions
		    WHERE kind = 'earn' AND business_date BETWEEN $1 AND $2 AND partner_id IN (SELECT till FROM lines)
		    GROUP BY 1, 2, 3
		), till_days AS (
		    SELECT till, day, count(*) AS buyers, SUM(minor)::BIGINT AS minor FROM spend GROUP BY 1, 2
		), participant_days AS (
		    SELECT DISTINCT rule, ref, till, funder, member_id, day FROM lines
		), promotion_days AS (
		    SELECT DISTINCT rule, ref, till, funder, day FROM lines
		)
		SELECT k.rule, k.ref, k.till, k.funder, k.members, k.purchases, k.points,
		       pd.days, pd.minor, o.buyers - pd.buyers, o.minor - pd.minor
		FROM (SELECT rule, ref, till, funder, count(DISTINCT member_id) AS members, count(DISTINCT purchase) AS purchases,
		             SUM(points)::BIGINT AS points
		      FROM lines GROUP BY 1, 2, 3, 4) AS k
		JOIN (SELECT d.rule, d.ref, d.till, d.funder, count(*) AS days, count(s.member_id) AS buyers,
		             COALESCE(SUM(s.minor), 0)::BIGINT AS minor
		      FROM participant_days AS d
		      LEFT JOIN spend AS s ON s.till = d.till AND s.member_id = d.member_id AND s.day = d.day
		      GROUP BY 1, 2, 3, 4) AS pd USING (rule, ref, till, funder)
		JOIN (SELECT d.rule, d.ref, d.till, d.funder, SUM(b.buyers)::BIGINT AS buyers, SUM(b.minor)::BIGINT AS minor
		      FROM promotion_days AS d
		      JOIN till_days AS b ON b.till = d.till AND b.day = d.day
		      GROUP BY 1, 2, 3, 4) AS o USING (rule, ref, till, funder)`, args...).Query(func(rows pgx.Rows) error {
		var r PromotionResult
		var participantMinor, othersMinor int64
		_, err := pgx.ForEachRow(rows, []any{&r.Rule, &r.Ref, &r.Partner, &r.Funder, &r.Members, &r.Purchases, &r.Points,
			&r.ParticipantDays, &participantMinor, &r.ComparableDays, &othersMinor}, func() error {
			r.SpendPerParticipantDay.Minor = ratio(participantMinor, r.ParticipantDays, 1)
			r.SpendPerComparableDay.Minor = ratio(othersMinor, r.ComparableDays, 1)
			f.Promotions = append(f.Promotions, r)
			return nil
		})
		return err
	})
}

// timePromotionRollUp times the promotion statements of day d's roll-up
// (rollUpDay's last three) in a transaction it rolls back.
func (c *benchCoalition) timePromotionRollUp(b *testing.B, d time.Time) time.Duration {
	tx, err := c.pool.Begin(c.ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback(c.ctx) }()
	if _, err := tx.Exec(c.ctx, `DELETE FROM analytics_promotion_days WHERE business_date = $1`, d); err != nil {
		b.Fatal(err)
	}
	y := d.Year()
	start := time.Now()
	for _, s := range []struct {
		sql  string
		args []any
	}{
		{promotionDays, []any{d}},
		{promotionMembers, append([]any{d, y, dayOf(y, d)}, dayMask(y, d).args()...)},
		{promotionMembers, append([]any{d, y + 1, dayOf(y+1, d)}, dayMask(y+1, d).args()...)},
	} {
		if _, err := tx.Exec(c.ctx, s.sql, s.args...); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// directPromotions logs what the direct scan's promotion results (both
// periods) take alone, untimed by the benchmark.
func (c *benchCoalition) directPromotions(b *testing.B, p *coalition.PartnerID) {
	n := int(benchTo.Sub(benchFrom).Hours()/24) + 1
	batch := &pgx.Batch{}
	for _, period := range [][2]time.Time{{benchFrom, benchTo}, {benchFrom.AddDate(0, 0, -n), benchFrom.AddDate(0, 0, -1)}} {
		args := []any{period[0], period[1]}
		if p != nil {
			args = append(args, *p)
		}
		queueDirectPromotions(batch, p, &Figures{}, args)
	}
	start := time.Now()
	if err := c.bare.SendBatch(c.ctx, batch).Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("the direct scan's promotion results alone: %s", time.Since(start).Round(time.Millisecond))
}
