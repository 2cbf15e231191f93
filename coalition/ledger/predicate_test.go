package ledger_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// TestRegularsDoNotConflict: two regular customers, each with more than a
// hundred purchases in the tier period and many that day, buy at the same
// moment. Their accruals read each one's own history (tier spend, the day's
// cap) and share nothing else, so they must commit without a single
// serialization retry. At SERIALIZABLE on PostgreSQL, reading more rows of
// one table than max_pred_locks_per_relation allows turns the transaction's
// predicate locks into one lock on the whole table, and then any two such
// accruals conflict.
func TestRegularsDoNotConflict(t *testing.T) {
	f := newFixture(t)
	f.putRules(rules.RuleSet{
		Partners: []rules.PartnerRules{{Partner: "cafe", RateBP: ptr(int64(500)), CapPerMemberDay: 1_000_000}},
		Tiers: &rules.Tiers{PeriodDays: 365, Levels: []rules.Tier{
			{Code: "silver", Name: "Silver", ThresholdMinor: 100_000_000_000, MultiplierBP: 12_500}}},
	})
	regulars := []ledger.Member{f.enroll(f.cafe), f.enroll(f.cafe)}
	// Other members shop in between, so that each regular's purchases lie
	// on many pages of the tables, as they do in a coalition's real data.
	others := make([]ledger.Member, 16)
	for i := range others {
		others[i] = f.enroll(f.cinema)
	}
	for i := range 120 {
		for _, m := range regulars {
			f.accrue(f.cafe, m, int64(10_000+i))
		}
		var wg sync.WaitGroup
		for j, m := range others {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprintf("other-%d-%d", i, j)
				if _, err := f.l.Accrue(f.ctx, f.cinema.ID, ledger.Accrual{IdempotencyKey: key, Member: ledger.MemberRef{ID: m.ID},
					Purchase: rub(5_000), OrderID: key}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		f.clock.Advance(10 * time.Minute) // the last ~70 fall on the same day
	}
	before := f.runner.Retries()
	const rounds = 20
	errs := make(chan error, rounds*len(regulars))
	for r := range rounds {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, m := range regulars {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				key := fmt.Sprintf("regular-%d-%d", i, r)
				_, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: key, Member: ledger.MemberRef{ID: m.ID},
					Purchase: rub(20_000), OrderID: key})
				errs <- err
			}()
		}
		close(start)
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if retried := f.runner.Retries() - before; retried != 0 {
		t.Fatalf("%d of %d accruals of two unrelated members were retried for a serialization conflict", retried, rounds*len(regulars))
	}
	f.checkClean()
}
