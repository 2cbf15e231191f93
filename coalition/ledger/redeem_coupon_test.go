package ledger_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/partners"
)

// redeemWith redeems points at a partner presenting a coupon, under key.
func (f *fixture) redeemWith(at partners.Partner, m ledger.Member, points coalition.Points, coupon, key string) (ledger.RedeemResult, error) {
	return f.l.RedeemWithCoupon(f.ctx, at.ID, ledger.Redemption{IdempotencyKey: key, Member: ledger.MemberRef{ID: m.ID},
		Points: points, OrderID: "order-" + key, CouponCode: coupon})
}

// treatOffer makes an offer of 40 points at the café, funded by the
// cinema, from a budget, and issues n coupons of one use each.
func (f *fixture) treatOffer(code string, budget coalition.Points, n int) []offers.Coupon {
	f.t.Helper()
	f.createOffer(operator, offers.Offer{Code: code, Name: "Treat", BonusPoints: 40, Partners: []string{"cafe"},
		Starts: start, Ends: start.AddDate(0, 1, 0), BudgetPoints: budget, FundedBy: "cinema"})
	cs, err := f.offers().IssueCoupons(f.ctx, operator, offers.Issue{Offer: code, RequestKey: code + "-issue", Count: n, MaxUses: 1})
	if err != nil {
		f.t.Fatal(err)
	}
	return cs
}

// lotsByIssuer is what is left of a member's lots, by issuer's code.
func (f *fixture) lotsByIssuer(m ledger.Member) map[string]int64 {
	f.t.Helper()
	rows, err := f.pool.Query(f.ctx, `
		SELECT p.code, SUM(l.remaining) FROM lots AS l JOIN partners AS p ON p.id = l.issuer_id
		WHERE l.member_id = $1 GROUP BY p.code`, m.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var code string
		var n int64
		if err := rows.Scan(&code, &n); err != nil {
			f.t.Fatal(err)
		}
		out[code] = n
	}
	return out
}

// TestACouponOnARedemptionGivesItsBonus: a member with the café's 50
// points spends 20 of them at the café and presents a coupon of 40
// points funded by the cinema. The burn takes the café's points; the
// coupon's points are a bonus of the cinema's, spendable at once, drawn
// from the offer's budget; the coupon counts one use, recorded with the
// bonus. With and without the lanes (which leave such a redemption to a
// transaction of its own).
func TestACouponOnARedemptionGivesItsBonus(t *testing.T) {
	for _, lanes := range []int{-1, 0} {
		t.Run(fmt.Sprint("lanes ", lanes), func(t *testing.T) {
			f := newFixtureWith(t, ledger.Config{Lanes: lanes})
			m := f.enroll(f.cafe)
			f.accrue(f.cafe, m, 100_000)
			earned := cafeBase(100_000)
			c := f.treatOffer("TREAT", 1_000, 1)[0]
			r, err := f.redeemWith(f.cafe, m, 20, strings.ToLower(offers.Printed(c.Code)), "till-1")
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind != ledger.KindBurn || r.Points != -20 || r.PartnerID != f.cafe.ID {
				t.Fatalf("burn %+v, want the café's burn of 20", r.Transaction)
			}
			if r.Coupon == nil || r.Coupon.Kind != ledger.KindBonus || r.Coupon.Points != 40 || r.Coupon.PartnerID != f.cinema.ID ||
				r.Coupon.OrderID != r.OrderID {
				t.Fatalf("coupon bonus %+v, want 40 points of the cinema's on the redemption's order", r.Coupon)
			}
			f.wantBalance(m, earned-20+40, 0, 0, 0)
			want := map[string]int64{"cafe": int64(earned) - 20, "cinema": 40}
			if got := f.lotsByIssuer(m); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("lots by issuer %v, want %v", got, want)
			}
			if got, want := f.couponRows(c.Code), "uses 1, recorded 1, lines 1"; got != want {
				t.Fatalf("coupon: %s, want %s", got, want)
			}
			list, err := f.offers().List(f.ctx, operator)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].BudgetUsed != 40 || list[0].CouponUses != 1 {
				t.Fatalf("offer after the redemption: %+v, want 40 of its budget used and one coupon use", list)
			}
			f.checkClean()
		})
	}
}

// TestASingleUseCouponIsUsedOnceByConcurrentRedemptions: eight tills
// redeem at once, each for its own member, presenting one single-use
// coupon: one redemption is posted with the coupon's points, the seven
// others are refused as used up and burn nothing.
func TestASingleUseCouponIsUsedOnceByConcurrentRedemptions(t *testing.T) {
	for _, lanes := range []int{-1, 0} {
		t.Run(fmt.Sprint("lanes ", lanes), func(t *testing.T) {
			f := newFixtureWith(t, ledger.Config{Lanes: lanes})
			c := f.treatOffer("ONCE", 1_000, 1)[0]
			var members []ledger.Member
			for range 8 {
				m := f.enroll(f.cafe)
				f.accrue(f.cafe, m, 100_000)
				members = append(members, m)
			}
			burnsBefore := f.count("transactions WHERE kind = 'burn'")
			var mu sync.Mutex
			var accepted []int
			var wg sync.WaitGroup
			startLine := make(chan struct{})
			for i, m := range members {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-startLine
					r, err := f.redeemWith(f.cafe, m, 10, c.Code, fmt.Sprintf("race-%d", i))
					if err != nil {
						e, ok := coalition.AsError(err)
						if !ok || e.Code != coalition.FailedPrecondition || e.Field != "coupon_code" || !strings.Contains(e.Message, "used up") {
							t.Errorf("till %d: %v, want the coupon refused as used up", i, err)
						}
						return
					}
					if r.Coupon == nil || r.Coupon.Points != 40 {
						t.Errorf("till %d: coupon bonus %+v, want 40 points", i, r.Coupon)
					}
					mu.Lock()
					accepted = append(accepted, i)
					mu.Unlock()
				}()
			}
			close(startLine)
			wg.Wait()
			if len(accepted) != 1 {
				t.Fatalf("%d redemptions used the single-use coupon, want 1", len(accepted))
			}
			if got := f.count("transactions WHERE kind = 'burn'") - burnsBefore; got != 1 {
				t.Fatalf("%d burns posted, want the one accepted", got)
			}
			if got := f.count("idempotency_keys WHERE outcome = 'refused' AND key LIKE 'race-%'"); got != 7 {
				t.Fatalf("%d refusals recorded, want 7", got)
			}
			if got, want := f.couponRows(c.Code), "uses 1, recorded 1, lines 1"; got != want {
				t.Fatalf("coupon: %s, want %s", got, want)
			}
			base := cafeBase(100_000)
			for i, m := range members {
				want := base
				if i == accepted[0] {
					want = base - 10 + 40
				}
				f.wantBalance(m, want, 0, 0, 0)
			}
			f.checkClean()
		})
	}
}

// TestARefusedCouponRefusesTheRedemption: every way a coupon cannot be
// used on a redemption refuses it whole, naming coupon_code, and leaves
// the ledger, the member's balance and the coupons as they were but for
// the refusal's record; so does a redemption the points do not cover,
// which takes no use of its coupon.
func TestARefusedCouponRefusesTheRedemption(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000)
	earned := cafeBase(100_000)
	issue := func(o offers.Offer) offers.Coupon {
		t.Helper()
		o.Name, o.Starts, o.Ends, o.FundedBy = o.Code, start, start.AddDate(0, 1, 0), "cinema"
		if o.BudgetPoints == 0 {
			o.BudgetPoints = 1_000
		}
		f.createOffer(operator, o)
		cs, err := f.offers().IssueCoupons(f.ctx, operator, offers.Issue{Offer: o.Code, RequestKey: o.Code, Count: 1, MaxUses: 1})
		if err != nil {
			t.Fatal(err)
		}
		return cs[0]
	}
	multiplier := issue(offers.Offer{Code: "DOUBLE", MultiplierBP: 10_000})
	minimum := issue(offers.Offer{Code: "BIG-BASKET", BonusPoints: 40, MinPurchaseMinor: 50_000})
	category := issue(offers.Offer{Code: "GROCERY", BonusPoints: 40, Categories: []string{"grocery"}})
	spent := issue(offers.Offer{Code: "SMALL", BonusPoints: 40, BudgetPoints: 30})
	elsewhere := issue(offers.Offer{Code: "CINEMA-ONLY", BonusPoints: 40, Partners: []string{"cinema"}})
	good := issue(offers.Offer{Code: "GOOD", BonusPoints: 40})

	before := f.writes()
	for _, c := range []struct {
		name, code string
		points     coalition.Points
		status     coalition.Code
		field      string
		says       string
	}{
		{"a multiplier only", multiplier.Code, 10, coalition.FailedPrecondition, "coupon_code", "gives a multiplier of the points earned, not on a redemption"},
		{"a minimum purchase", minimum.Code, 10, coalition.FailedPrecondition, "coupon_code", "at least 500.00"},
		{"a category", category.Code, 10, coalition.FailedPrecondition, "coupon_code", "[grocery] only"},
		{"a budget spent", spent.Code, 10, coalition.FailedPrecondition, "coupon_code", "budget is spent"},
		{"another partner's", elsewhere.Code, 10, coalition.FailedPrecondition, "coupon_code", "not valid at this partner"},
		{"points short", good.Code, earned + 1, coalition.FailedPrecondition, "points", ""},
	} {
		_, err := f.redeemWith(f.cafe, m, c.points, c.code, f.key())
		wantError(t, err, c.status, c.field)
		if !strings.Contains(err.Error(), c.says) {
			t.Fatalf("%s: %v, want it to say %q", c.name, err, c.says)
		}
	}
	if after := f.writes(); after != before {
		t.Fatalf("refused redemptions wrote rows: %s → %s", before, after)
	}
	if got := f.count("coupons WHERE uses > 0") + f.count("coupon_uses") + f.count("promotion_budgets WHERE granted > 0"); got != 0 {
		t.Fatalf("refused redemptions left %d coupon uses or budget draws", got)
	}
	f.wantBalance(m, earned, 0, 0, 0)
	f.checkClean()
}

// TestACouponsRedemptionReplaysWithoutUsingItAgain: the redemption that
// used a coupon, sent again under its key, answers as the first time and
// writes nothing; another redemption with the used coupon is refused, and
// that refusal replays as itself. A redemption recorded without a coupon
// replays through Redeem as before.
func TestACouponsRedemptionReplaysWithoutUsingItAgain(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000)
	c := f.treatOffer("REPLAY", 1_000, 1)[0]
	first, err := f.redeemWith(f.cafe, m, 20, c.Code, "till-1")
	if err != nil {
		t.Fatal(err)
	}
	before := f.writes()
	f.clock.Set(start.Add(time.Hour))
	again, err := f.redeemWith(f.cafe, m, 20, offers.Printed(c.Code), "till-1")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || again.Coupon == nil || again.Coupon.ID != first.Coupon.ID || again.Coupon.Points != 40 {
		t.Fatalf("replay answered %+v (coupon %+v), first %+v (coupon %+v)", again.Transaction, again.Coupon, first.Transaction, first.Coupon)
	}
	if after := f.writes(); after != before {
		t.Fatalf("the replay wrote rows: %s → %s", before, after)
	}
	if got, want := f.couponRows(c.Code), "uses 1, recorded 1, lines 1"; got != want {
		t.Fatalf("coupon after the replay: %s, want %s", got, want)
	}
	_, err = f.redeemWith(f.cafe, m, 5, c.Code, "till-2")
	wantError(t, err, coalition.FailedPrecondition, "coupon_code")
	if _, again2 := f.redeemWith(f.cafe, m, 5, c.Code, "till-2"); again2 == nil || again2.Error() != err.Error() {
		t.Fatalf("the refusal replayed as %v, first %v", again2, err)
	}
	plain := f.redeem(f.cafe, m, 5)
	replayed, err := f.l.Redeem(f.ctx, f.cafe.ID, ledger.Redemption{IdempotencyKey: fmt.Sprint("key-", f.keys-1),
		Member: ledger.MemberRef{ID: m.ID}, Points: 5, OrderID: fmt.Sprint("key-", f.keys)})
	if err != nil || replayed.ID != plain.ID {
		t.Fatalf("a plain redemption replayed as %+v, %v; first %+v", replayed, err, plain)
	}
	f.wantBalance(m, cafeBase(100_000)-20+40-5, 0, 0, 0)
	f.checkClean()
}
