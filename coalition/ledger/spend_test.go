package ledger_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/infra/schema"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// spendByTheTransactions is the tier's qualifying spend as the ledger read
// it before member_day_spend: every earn less every earn refund of the
// member after from, read from the transactions themselves.
func (f *fixture) spendByTheTransactions(m ledger.Member, from time.Time) int64 {
	f.t.Helper()
	var spend int64
	if err := f.pool.QueryRow(f.ctx, `
		SELECT COALESCE(SUM(CASE WHEN kind = 'earn' THEN amount_minor ELSE -amount_minor END), 0)
		FROM transactions
		WHERE member_id = $1 AND kind IN ('earn', 'earn_refund') AND created_at > $2`, m.ID, from).Scan(&spend); err != nil {
		f.t.Fatal(err)
	}
	return max(spend, 0)
}

// TestTierSpendAtThePeriodsEdgeIsTheSumOfTheTransactions: the running
// figure (member_day_spend) gives whole UTC days, and the first day of the
// period is read from the transactions. A member buys just before, exactly
// at and just after the instant the period will start, on one UTC day that
// is already the next day in the coalition's time zone (Moscow), and on
// the day after; 30 days later the tier and its spend are what the sum
// over the transactions gives (one purchase counted too many would reach
// silver), a refund lowers the figure, and the review lowers the tier as
// the period moves on. `ledger check` is clean, the migration's backfill
// rebuilds the same figure, and the check catches one that drifts. Both
// engines: one transaction per accrual, and the lanes' batches. The clock
// is the fixture's: no wall clock, no local zone.
func TestTierSpendAtThePeriodsEdgeIsTheSumOfTheTransactions(t *testing.T) {
	for _, lanes := range []int{-1, 0} {
		t.Run(fmt.Sprintf("lanes=%d", lanes), func(t *testing.T) {
			f := newFixtureWith(t, ledger.Config{Lanes: lanes})
			f.putRules(rules.RuleSet{Tiers: &rules.Tiers{PeriodDays: 30, Levels: []rules.Tier{
				{Code: "silver", Name: "Silver", ThresholdMinor: 300_000, MultiplierBP: 15_000},
				{Code: "gold", Name: "Gold", ThresholdMinor: 1_000_000, MultiplierBP: 20_000},
			}}})
			m := f.enroll(f.cafe)
			ref := ledger.MemberRef{ID: m.ID}
			// 22:00 UTC on 10 March is 01:00 on 11 March in Moscow.
			edge := time.Date(2026, 3, 10, 22, 0, 0, 0, time.UTC)
			buy := func(at time.Time, minor int64) ledger.AccrueResult {
				t.Helper()
				f.clock.Set(at)
				return f.accrue(f.cafe, m, minor)
			}
			buy(start, 500_000)                                // 09:00 UTC the same day: silver at once
			buy(edge.Add(-time.Microsecond), 60_000)           // just outside the period to come
			buy(edge, 70_000)                                  // at its first instant, which it excludes
			inside := buy(edge.Add(time.Microsecond), 100_000) // just inside
			buy(edge.Add(90*time.Minute), 50_000)              // 23:30 UTC, still 10 March in UTC
			buy(edge.Add(150*time.Minute), 100_000)            // 00:30 UTC on 11 March

			// 30 days on, the period starts at the edge: 2,500.00 counts.
			now := edge.AddDate(0, 0, 30)
			f.clock.Set(now)
			from := now.AddDate(0, 0, -30)
			if want := f.spendByTheTransactions(m, from); want != 250_000 {
				t.Fatalf("the transactions give %d, want 250000", want)
			}
			if n, down, err := f.l.ReviewTiers(f.ctx, 100); err != nil || n != 1 || down != 1 {
				t.Fatalf("review: %d reviewed, %d lowered, %v; want silver lowered (2,500.00 < 3,000.00)", n, down, err)
			}
			s, err := f.l.Standing(f.ctx, ref)
			if err != nil || s.Tier != "" || s.Spend != 250_000 || s.NextTier != "silver" || s.Needed != 50_000 {
				t.Fatalf("standing %+v, %v; want no tier, spend 250000, 50000 to silver", s, err)
			}
			// The purchase that makes 3,000.00 raises the tier at once.
			if r := f.accrue(f.cafe, m, 50_000); !r.Earning.Upgraded || r.Earning.Tier != "silver" {
				t.Fatalf("crossing purchase: %+v; want silver", r.Earning)
			}
			if s, err = f.l.Standing(f.ctx, ref); err != nil || s.Tier != "silver" || s.Spend != 300_000 ||
				s.Spend != f.spendByTheTransactions(m, from) {
				t.Fatalf("after the crossing purchase: %+v, %v; want silver on 300000", s, err)
			}

			// A refund of the purchase just inside lowers the figure.
			refund := rub(20_000)
			if _, err := f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: f.key(),
				TransactionID: inside.Transaction.ID, Purchase: &refund}); err != nil {
				t.Fatal(err)
			}
			if s, err = f.l.Standing(f.ctx, ref); err != nil || s.Spend != 280_000 || s.Spend != f.spendByTheTransactions(m, from) {
				t.Fatalf("after the refund: %+v, %v; want spend 280000", s, err)
			}

			// 20 hours on, the period starts at 18:00 UTC on 11 March:
			// every purchase of 10 and 11 March has left it, the refund
			// (of today) has not. The review lowers silver.
			f.clock.Advance(20 * time.Hour)
			from = f.clock.Now().AddDate(0, 0, -30)
			if n, down, err := f.l.ReviewTiers(f.ctx, 100); err != nil || n != 1 || down != 1 {
				t.Fatalf("second review: %d reviewed, %d lowered, %v", n, down, err)
			}
			if s, err = f.l.Standing(f.ctx, ref); err != nil || s.Tier != "" || s.Spend != 30_000 ||
				s.Spend != f.spendByTheTransactions(m, from) {
				t.Fatalf("after the second review: %+v, %v; want no tier on 30000", s, err)
			}
			f.checkClean()

			// The migration's backfill builds the same figure from the
			// transactions.
			var rows int
			if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM member_day_spend WHERE member_id = $1`, m.ID).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if rows != 3 { // 10 March, 11 March, and today's crossing purchase and refund
				t.Fatalf("%d days in member_day_spend, want 3", rows)
			}
			migrations, err := schema.All()
			if err != nil {
				t.Fatal(err)
			}
			for _, mig := range migrations {
				if mig.Name != "0014_member_day_spend.sql" {
					continue
				}
				if _, err := f.pool.Exec(f.ctx, `DROP TABLE member_day_spend`); err != nil {
					t.Fatal(err)
				}
				if _, err := f.pool.Exec(f.ctx, mig.SQL); err != nil {
					t.Fatal(err)
				}
			}
			f.checkClean()

			// And the check sees a figure that drifts from them.
			if _, err := f.pool.Exec(f.ctx, `
				UPDATE member_day_spend SET spend_minor = spend_minor + 1 WHERE member_id = $1 AND day = '2026-03-11'`, m.ID); err != nil {
				t.Fatal(err)
			}
			breaches, err := f.l.Check(f.ctx, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(breaches) != 1 || breaches[0].Invariant != "a member's spend of a day is the day's earns less its earn refunds" {
				t.Fatalf("check after tampering with the figure: %+v", breaches)
			}
		})
	}
}
