package ledger_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// BenchmarkAccrue measures one accrual, sequentially, on 64 members: with
// base rates only, and under a full rule set (three tiers, a seasonal, a
// joint, a tier-scoped and a budgeted promotion, a daily cap). The ratio of
// the two is the cost of the rules engine and the member state it reads.
//
//	go test ./coalition/ledger -run '^$' -bench Accrue -benchtime 2000x
func BenchmarkAccrue(b *testing.B) {
	for _, withRules := range []bool{false, true} {
		name := "base-rates"
		if withRules {
			name = "full-rules"
		}
		b.Run(name, func(b *testing.B) {
			f := newFixture(b)
			if withRules {
				month := start.AddDate(0, 1, 0)
				f.putRules(rules.RuleSet{
					Partners: []rules.PartnerRules{{Partner: "cafe", RateBP: ptr[int64](500), CapPerMemberDay: 1_000_000,
						Categories: []rules.CategoryRate{{Category: "coffee", RateBP: 1_000}}}},
					Tiers: &rules.Tiers{PeriodDays: 365, Levels: []rules.Tier{
						{Code: "silver", Name: "Silver", ThresholdMinor: 500_000, MultiplierBP: 12_500},
						{Code: "gold", Name: "Gold", ThresholdMinor: 2_000_000, MultiplierBP: 15_000},
						{Code: "platinum", Name: "Platinum", ThresholdMinor: 5_000_000, MultiplierBP: 20_000},
					}},
					Promotions: []rules.Promotion{
						{Code: "season", Name: "Season", Starts: start, Ends: month, MultiplierBP: 10_000, FundedBy: rules.FundedByPartner},
						{Code: "joint", Name: "Joint", Starts: start, Ends: month, BonusPoints: 10, Partners: []string{"cafe"},
							FundedBy: "cinema", UnlockAt: "cinema", BudgetPoints: 1_000_000_000},
						{Code: "gold", Name: "Gold", Starts: start, Ends: month, MultiplierBP: 5_000, Tiers: []string{"gold", "platinum"},
							FundedBy: rules.FundedByOperator},
					},
					Referral: &rules.Referral{ReferrerPoints: 200, NewMemberPoints: 100},
				})
			}
			var members []ledger.Member
			for range 64 {
				members = append(members, f.enroll(f.cafe))
			}
			b.ResetTimer()
			for i := range b.N {
				f.clock.Advance(time.Second)
				m := members[i%len(members)]
				key := fmt.Sprintf("bench-%d", i)
				if _, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: key, Member: ledger.MemberRef{ID: m.ID},
					Purchase: rub(100_000), OrderID: key}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAccrueConcurrently measures accruals from 16 goroutines on 256
// members, one transaction each and through the group-commit lanes; then,
// through the lanes under tier rules (every accrual reads its member's
// qualifying spend over the year), on 64 members who never bought
// (tiers/fresh) and on 64 regulars who first made 200 purchases each: one
// a day for 200 days (as many days as purchases: the least a running
// figure per day can save), or ten a day for 20 days. mix/ runs holds,
// captures, voids, redemptions and refunds among the accruals, one
// transaction each and through two lanes.
//
//	go test ./coalition/ledger -run '^$' -bench AccrueConcurrently -benchtime 5000x
//	go test ./coalition/ledger -run '^$' -bench 'AccrueConcurrently/mix' -benchtime 4500x
func BenchmarkAccrueConcurrently(b *testing.B) {
	for _, lanes := range []int{-1, 1, 2, 4, 8} {
		b.Run(fmt.Sprintf("lanes=%d", lanes), func(b *testing.B) {
			f := newFixtureWith(b, ledger.Config{Lanes: lanes})
			var members []ledger.Member
			for range 256 {
				members = append(members, f.enroll(f.cafe))
			}
			var n atomic.Int64
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					key := fmt.Sprintf("bench-%d", i)
					if _, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: key, Member: ledger.MemberRef{ID: members[i%256].ID},
						Purchase: rub(100_000), OrderID: key}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			s := f.l.BatchStats()
			if s.Batches > 0 {
				b.ReportMetric(float64(s.Batched)/float64(s.Batches), "accruals/batch")
			}
		})
	}
	// The two-phase and refund mix: each goroutine cycles through an
	// accrual, a hold and its partial capture, an accrual, a redemption and
	// a refund of a point of it, a refund of a tenth of its last purchase,
	// and a hold and its void, on 256 members who start with 500 points
	// each (an operation is one step of the cycle).
	for _, lanes := range []int{-1, 2} {
		b.Run(fmt.Sprintf("mix/lanes=%d", lanes), func(b *testing.B) {
			f := newFixtureWith(b, ledger.Config{Lanes: lanes})
			var members []ledger.Member
			for range 256 {
				m := f.enroll(f.cafe)
				f.accrue(f.cafe, m, 1_000_000)
				members = append(members, m)
			}
			var n atomic.Int64
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var earn, burn ledger.Transaction
				var hold ledger.Hold
				step := 0
				for pb.Next() {
					i := n.Add(1)
					key := fmt.Sprintf("bench-%d", i)
					ref := ledger.MemberRef{ID: members[i%256].ID}
					var err error
					switch step % 9 {
					case 0, 3:
						var r ledger.AccrueResult
						r, err = f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: key, Member: ref, Purchase: rub(100_000), OrderID: key})
						earn = r.Transaction
					case 1, 7:
						hold, err = f.l.Authorize(f.ctx, f.cafe.ID, ledger.Authorization{IdempotencyKey: key, Member: ref, Points: 5, OrderID: key})
					case 2:
						part := coalition.Points(3)
						_, err = f.l.Capture(f.ctx, f.cafe.ID, ledger.Capture{IdempotencyKey: key, HoldID: hold.ID, Points: &part})
					case 4:
						burn, err = f.l.Redeem(f.ctx, f.cafe.ID, ledger.Redemption{IdempotencyKey: key, Member: ref, Points: 5, OrderID: key})
					case 5:
						one := coalition.Points(1)
						_, err = f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: key, TransactionID: burn.ID, Points: &one})
					case 6:
						tenth := rub(10_000)
						_, err = f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: key, TransactionID: earn.ID, Purchase: &tenth})
					case 8:
						_, err = f.l.Void(f.ctx, f.cafe.ID, ledger.Void{IdempotencyKey: key, HoldID: hold.ID})
					}
					if err != nil {
						b.Error(err)
						return
					}
					step++
				}
			})
			b.StopTimer()
			if s := f.l.BatchStats(); s.Batches > 0 {
				b.ReportMetric(float64(s.Batched)/float64(s.Batches), "postings/batch")
				b.ReportMetric(float64(s.Alone)/float64(b.N), "alone/op")
			}
		})
	}
	for _, history := range []struct {
		name              string
		purchases, perDay int
	}{{"fresh", 0, 1}, {"regulars-1-a-day", 200, 1}, {"regulars-10-a-day", 200, 10}} {
		b.Run("tiers/"+history.name, func(b *testing.B) {
			f := newFixture(b)
			f.putRules(rules.RuleSet{Tiers: &rules.Tiers{PeriodDays: 365, Levels: []rules.Tier{
				{Code: "silver", Name: "Silver", ThresholdMinor: 500_000, MultiplierBP: 12_500},
				{Code: "gold", Name: "Gold", ThresholdMinor: 2_000_000, MultiplierBP: 15_000},
				{Code: "platinum", Name: "Platinum", ThresholdMinor: 5_000_000, MultiplierBP: 20_000},
			}}})
			members := f.regulars(64, history.purchases, history.perDay)
			var n atomic.Int64
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					key := fmt.Sprintf("bench-%d", i)
					if _, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: key,
						Member: ledger.MemberRef{ID: members[i%int64(len(members))].ID}, Purchase: rub(100_000), OrderID: key}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// regulars enrols members at the café who each make purchases purchases
// of 1,000.00, perDay a day, the clock moving on as they buy, and then
// analyses the tables as a settled database's would be.
func (f *fixture) regulars(members, purchases, perDay int) []ledger.Member {
	f.t.Helper()
	var out []ledger.Member
	for range members {
		out = append(out, f.enroll(f.cafe))
	}
	for k := range purchases {
		as := make([]ledger.Accrual, len(out))
		for i, m := range out {
			key := fmt.Sprintf("history-%d-%d", k, i)
			as[i] = ledger.Accrual{IdempotencyKey: key, Member: ledger.MemberRef{ID: m.ID}, Purchase: rub(100_000), OrderID: key}
		}
		_, errs := f.l.AccrueAll(f.ctx, f.cafe.ID, as)
		for _, err := range errs {
			if err != nil {
				f.t.Fatal(err)
			}
		}
		f.clock.Advance(24 * time.Hour / time.Duration(perDay))
	}
	if _, err := f.pool.Exec(f.ctx, `ANALYZE`); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// BenchmarkQualifyingSpend measures the tier spend's read alone, one
// member at a time, for 64 regulars with 200 purchases each over the last
// year (one a day, or ten a day): as the ledger reads it (the running
// figure of each day and the first day's transactions) and as it read it
// before member_day_spend (every purchase of the period).
//
//	go test ./coalition/ledger -run '^$' -bench QualifyingSpend -benchtime 3000x -count 3
func BenchmarkQualifyingSpend(b *testing.B) {
	for _, perDay := range []int{1, 10} {
		f := newFixture(b)
		members := f.regulars(64, 200, perDay)
		from := f.clock.Now().AddDate(0, 0, -365)
		b.Run(fmt.Sprintf("regulars-%d-a-day/running-figure", perDay), func(b *testing.B) {
			for i := range b.N {
				if _, err := f.l.QualifyingSpend(f.ctx, members[i%len(members)].ID, from); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("regulars-%d-a-day/transactions", perDay), func(b *testing.B) {
			for i := range b.N {
				f.spendByTheTransactions(members[i%len(members)], from)
			}
		})
	}
}

// BenchmarkExpireLots measures the expiry of 20,000 lots of 5,000 members
// (two at the café and two at the cinema each, so two expiry transactions
// per member), in pages of 1,000 members as the daily job calls it: one
// transaction per member and posting written on its own, as expiry ran
// before (per-member), against one transaction per page with every row
// written set-based (per-page). Both run on one database, alternating
// with -count; an iteration's lots are made with the timer stopped.
//
//	go test ./coalition/ledger -run '^$' -bench ExpireLots -benchtime 1x -count 5
func BenchmarkExpireLots(b *testing.B) {
	const members, page = 5_000, 1_000
	f := newFixture(b)
	ms := make([]ledger.Member, members)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < members; i += 16 {
				m, err := f.l.Enroll(f.ctx, f.cafe.ID, ledger.Enrollment{IdempotencyKey: fmt.Sprintf("enrol-%d", i)})
				if err != nil {
					b.Error(err)
					return
				}
				ms[i] = m
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	round := 0
	makeLots := func() {
		for _, at := range []partners.Partner{f.cafe, f.cinema, f.cafe, f.cinema} {
			round++
			as := make([]ledger.Accrual, members)
			for i, m := range ms {
				key := fmt.Sprintf("lots-%d-%d", round, i)
				as[i] = ledger.Accrual{IdempotencyKey: key, Member: ledger.MemberRef{ID: m.ID}, Purchase: rub(100_000), OrderID: key}
			}
			_, errs := f.l.AccrueAll(f.ctx, at.ID, as)
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		f.clock.Advance(366 * 24 * time.Hour)
	}
	for _, c := range []struct {
		name   string
		expire func(limit int) (int, error)
	}{
		{"per-member", func(limit int) (int, error) { return f.l.ExpireLotsPerMember(f.ctx, limit) }},
		{"per-page", func(limit int) (int, error) { return f.l.ExpireLots(f.ctx, limit) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				makeLots()
				b.StartTimer()
				total := 0
				for {
					n, err := c.expire(page)
					if err != nil {
						b.Fatal(err)
					}
					if n == 0 {
						break
					}
					total += n
				}
				if total != 4*members {
					b.Fatalf("expired %d lots, want %d", total, 4*members)
				}
			}
			b.ReportMetric(float64(4*members*b.N)/b.Elapsed().Seconds(), "lots/s")
		})
	}
}
