package ledger_test

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// batchRules make an accrual depend on what the member did before: tiers
// by spend over the year, a daily cap at the café, a category rate, a
// tier-scoped promotion funded by the operator (a bonus transaction) and a
// promotion with a small budget.
func batchRules() rules.RuleSet {
	month := start.AddDate(0, 1, 0)
	return rules.RuleSet{
		Partners: []rules.PartnerRules{{Partner: "cafe", RateBP: ptr[int64](500), CapPerMemberDay: 400,
			Categories: []rules.CategoryRate{{Category: "coffee", RateBP: 1_000}}}},
		Tiers: &rules.Tiers{PeriodDays: 365, Levels: []rules.Tier{
			{Code: "silver", Name: "Silver", ThresholdMinor: 300_000, MultiplierBP: 12_500},
			{Code: "gold", Name: "Gold", ThresholdMinor: 1_000_000, MultiplierBP: 15_000},
		}},
		Promotions: []rules.Promotion{
			{Code: "gold-bonus", Name: "Gold bonus", Starts: start, Ends: month, BonusPoints: 7, Tiers: []string{"gold"},
				FundedBy: rules.FundedByOperator},
			// A shared budget that runs out: such accruals run alone.
			{Code: "cinema-coffee", Name: "Coffee at the cinema", Starts: start, Ends: month, BonusPoints: 5,
				Partners: []string{"cinema"}, Categories: []string{"coffee"}, FundedBy: rules.FundedByPartner, BudgetPoints: 60},
		},
	}
}

// answer is what a till sees of an accrual.
type answer struct {
	code                   coalition.Code
	field                  string
	points, total, bonuses int64
	tier                   string
}

func answerOf(r ledger.AccrueResult, err error) answer {
	if err != nil {
		if e, ok := coalition.AsError(err); ok {
			return answer{code: e.Code, field: e.Field}
		}
		return answer{code: -1, field: err.Error()}
	}
	var bonuses int64
	for _, b := range r.Bonuses {
		bonuses += int64(b.Points)
	}
	return answer{points: int64(r.Transaction.Points), total: int64(r.Earning.Total), bonuses: bonuses, tier: r.Earning.Tier}
}

func redemption(a ledger.Accrual, points coalition.Points) ledger.Redemption {
	return ledger.Redemption{IdempotencyKey: a.IdempotencyKey, Member: a.Member, Points: points, OrderID: a.OrderID}
}

func authorization(a ledger.Accrual, points coalition.Points) ledger.Authorization {
	return ledger.Authorization{IdempotencyKey: a.IdempotencyKey, Member: a.Member, Points: points, OrderID: a.OrderID, TTL: time.Hour}
}

// holdOf is an authorization's answer as an answer: its points, or its error.
func holdOf(h ledger.Hold, err error) answer {
	if err != nil {
		return answerOf(ledger.AccrueResult{}, err)
	}
	return answer{points: int64(h.Points), tier: string(h.Status)}
}

// burnOf is a redemption's answer as an answer: its points, or its error.
func burnOf(tx ledger.Transaction, err error) answer {
	if err != nil {
		return answerOf(ledger.AccrueResult{}, err)
	}
	return answer{points: int64(tx.Points), tier: string(tx.Kind)}
}

// TestBatchesAnswerAsOneAtATime: random accruals, redemptions and holds cut into random batches
// give every request the answer, and every member the balance, that the
// same requests give one at a time on a ledger without lanes; replays,
// reused keys and orders, unknown cards and a wrong currency among them,
// members named by id or by card, some owing points, days passing between
// batches, personal offers (a segment's, with a budget that runs out) and
// coupons of limited use (which run out too). The ledger check stays clean.
func TestBatchesAnswerAsOneAtATime(t *testing.T) {
	batched := newFixture(t)
	alone := newFixtureWith(t, ledger.Config{Lanes: -1})
	// Personal offers: one for a segment whose members each iteration may
	// add to, with a small budget, funded by the cinema; one for coupons
	// (three codes of two uses each on each ledger).
	coupons := map[*fixture][]string{}
	for _, f := range []*fixture{batched, alone} {
		f.putRules(batchRules())
		f.segment(nil, "targeted")
		f.createOffer(operator, offers.Offer{Code: "SEGMENT", Name: "Segment", Segment: "targeted", BonusPoints: 9, MultiplierBP: 5_000,
			Starts: start, Ends: start.AddDate(1, 0, 0), BudgetPoints: 80, FundedBy: "cinema"})
		for _, c := range f.couponOffer("COUPON", 3, 2, nil) {
			coupons[f] = append(coupons[f], c.Code)
		}
	}
	type pair struct{ b, a ledger.Member }
	iteration := 0
	rapid.Check(t, func(rt *rapid.T) {
		iteration++
		var members []pair
		for range 3 {
			members = append(members, pair{batched.enroll(batched.cafe), alone.enroll(alone.cafe)})
		}
		// The first member may owe points: earn, spend, refund the earn.
		if rapid.Bool().Draw(rt, "debt") {
			for i, f := range []*fixture{batched, alone} {
				m := []ledger.Member{members[0].b, members[0].a}[i]
				e := f.accrue(f.cinema, m, 100_000)
				f.redeem(f.fuel, m, 20)
				whole := *e.Transaction.Amount
				if _, err := f.l.Refund(f.ctx, f.cinema.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: e.Transaction.ID, Purchase: &whole}); err != nil {
					rt.Fatal(err)
				}
			}
		}
		if rapid.Bool().Draw(rt, "targeted") {
			for i, f := range []*fixture{batched, alone} {
				m := []ledger.Member{members[1].b, members[1].a}[i]
				if _, err := f.pool.Exec(f.ctx, `
					INSERT INTO segment_members (segment_id, member_id) SELECT id, $1 FROM segments WHERE code = 'targeted'`, m.ID); err != nil {
					rt.Fatal(err)
				}
			}
		}
		type request struct {
			coupon  int // > 0: present the coupon-1'th coupon
			partner int
			a       ledger.Accrual
			member  int
			byCard  bool
			redeem  coalition.Points // > 0: a redemption of these points (key, member, order of a)
			hold    coalition.Points // > 0: an authorization of these points, for an hour
		}
		var sent []request
		shops := func(f *fixture) []partners.Partner { return []partners.Partner{f.cafe, f.cinema, f.fuel} }
		ref := func(f *fixture, r request) ledger.MemberRef {
			if r.member < 0 {
				return ledger.MemberRef{CardNumber: "4000000000000002"} // valid check digit, no member
			}
			m := members[r.member].a
			if f == batched {
				m = members[r.member].b
			}
			if r.byCard {
				return ledger.MemberRef{CardNumber: m.CardNumber}
			}
			return ledger.MemberRef{ID: m.ID}
		}
		n := rapid.IntRange(1, 24).Draw(rt, "requests")
		var requests []request
		for i := range n {
			key := fmt.Sprintf("it%d-%d", iteration, i)
			r := request{partner: rapid.IntRange(0, 2).Draw(rt, "shop"), member: rapid.IntRange(0, 2).Draw(rt, "member"),
				byCard: rapid.Bool().Draw(rt, "by card"),
				a: ledger.Accrual{IdempotencyKey: key, OrderID: key, Purchase: rub(rapid.Int64Range(1, 400_000).Draw(rt, "minor")),
					Category: rapid.SampledFrom([]string{"", "coffee"}).Draw(rt, "category")}}
			switch rapid.IntRange(0, 10).Draw(rt, "kind") {
			case 0: // a replay of an earlier request
				if len(requests) > 0 {
					r = requests[rapid.IntRange(0, len(requests)-1).Draw(rt, "replayed")]
				}
			case 1: // an earlier key for another purchase
				if len(requests) > 0 {
					r.a.IdempotencyKey = requests[rapid.IntRange(0, len(requests)-1).Draw(rt, "key of")].a.IdempotencyKey
				}
			case 2: // an earlier order under a new key
				if len(requests) > 0 {
					o := requests[rapid.IntRange(0, len(requests)-1).Draw(rt, "order of")]
					r.partner, r.a.OrderID = o.partner, o.a.OrderID
				}
			case 3:
				r.a.Purchase.Currency = "EUR"
			case 4:
				r.member = -1
			case 5, 6:
				r.redeem = coalition.Points(rapid.Int64Range(1, 300).Draw(rt, "points"))
			case 7:
				r.hold = coalition.Points(rapid.Int64Range(1, 200).Draw(rt, "held"))
			case 8:
				r.coupon = rapid.IntRange(1, 3).Draw(rt, "coupon")
			}
			requests = append(requests, r)
		}
		sent = requests
		// One at a time.
		var want []answer
		for _, r := range sent {
			a := r.a
			a.Member = ref(alone, r)
			if r.coupon > 0 {
				a.CouponCode = coupons[alone][r.coupon-1]
			}
			if r.redeem > 0 {
				want = append(want, burnOf(alone.l.Redeem(alone.ctx, shops(alone)[r.partner].ID, redemption(a, r.redeem))))
				continue
			}
			if r.hold > 0 {
				want = append(want, holdOf(alone.l.Authorize(alone.ctx, shops(alone)[r.partner].ID, authorization(a, r.hold))))
				continue
			}
			want = append(want, answerOf(alone.l.Accrue(alone.ctx, shops(alone)[r.partner].ID, a)))
		}
		// In random batches.
		var got []answer
		for from := 0; from < len(sent); {
			to := from + rapid.IntRange(1, len(sent)-from).Draw(rt, "batch size")
			var ops []ledger.Op
			for _, r := range sent[from:to] {
				a := r.a
				a.Member = ref(batched, r)
				if r.coupon > 0 {
					a.CouponCode = coupons[batched][r.coupon-1]
				}
				op := ledger.Op{Partner: shops(batched)[r.partner].ID, Accrual: a}
				if r.redeem > 0 {
					red := redemption(a, r.redeem)
					op.Redemption = &red
				}
				if r.hold > 0 {
					auth := authorization(a, r.hold)
					op.Authorization = &auth
				}
				ops = append(ops, op)
			}
			for i, res := range batched.l.Together(batched.ctx, ops) {
				if sent[from+i].redeem > 0 {
					got = append(got, burnOf(res.Burned, res.Err))
				} else if sent[from+i].hold > 0 {
					got = append(got, holdOf(res.Held, res.Err))
				} else {
					got = append(got, answerOf(res.Accrued, res.Err))
				}
			}
			from = to
		}
		for i := range sent {
			if got[i] != want[i] {
				rt.Fatalf("request %d (%+v): batched %+v, one at a time %+v", i, sent[i], got[i], want[i])
			}
		}
		for i, p := range members {
			if b, a := batched.balance(p.b), alone.balance(p.a); b.Available != a.Available || b.Pending != a.Pending || b.Debt != a.Debt || b.Held != a.Held {
				rt.Fatalf("member %d: batched balance %+v, one at a time %+v", i, b, a)
			}
		}
		hours := time.Duration(rapid.IntRange(0, 30).Draw(rt, "hours")) * time.Hour
		batched.clock.Advance(hours)
		alone.clock.Advance(hours)
	})
	// (A batch fails when it meets an order that earned in an earlier
	// batch: its requests then run alone.)
	if s := batched.l.BatchStats(); s.Batched == 0 {
		t.Fatalf("lanes' stats %+v: want accruals applied in batches", s)
	}
	for _, f := range []*fixture{batched, alone} {
		if _, err := f.l.ReleaseExpiredHolds(f.ctx, 100_000); err != nil { // as the sweeper would have
			t.Fatal(err)
		}
		f.checkClean()
	}
}
