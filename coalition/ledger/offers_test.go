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
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// offers is the offers of the fixture's coalition, on its clock.
func (f *fixture) offers() *offers.Store {
	return offers.New(offers.Config{Tx: f.runner, Clock: f.clock.Now})
}

// segment makes a segment of the operator (owner nil) or of a partner
// with the given members, as the segments' daily computation leaves it.
func (f *fixture) segment(owner *partners.Partner, code string, members ...ledger.Member) {
	f.t.Helper()
	var partnerID any
	if owner != nil {
		partnerID = owner.ID
	}
	id := coalition.NewID()
	if _, err := f.pool.Exec(f.ctx, `
		INSERT INTO segments (id, partner_id, code, name, definition, created_at, updated_at)
		VALUES ($1, $2, $3, $3, '{}', $4, $4)`,
		id, partnerID, code, start); err != nil {
		f.t.Fatal(err)
	}
	for _, m := range members {
		if _, err := f.pool.Exec(f.ctx, `INSERT INTO segment_members (segment_id, member_id) VALUES ($1, $2)`, id, m.ID); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) createOffer(a offers.Actor, o offers.Offer) offers.Offer {
	f.t.Helper()
	out, err := f.offers().Create(f.ctx, a, o)
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

var operator = offers.Actor{Operator: true}

// lineOf is the breakdown's line of a rule and ref, and whether there is one.
func lineOf(r ledger.AccrueResult, rule, ref string) (rules.Line, bool) {
	for _, l := range r.Earning.Lines {
		if l.Rule == rule && l.Ref == ref {
			return l, true
		}
	}
	return rules.Line{}, false
}

func (f *fixture) accrueWith(at partners.Partner, m ledger.Member, minor int64, category, coupon string) (ledger.AccrueResult, error) {
	return f.l.Accrue(f.ctx, at.ID, ledger.Accrual{IdempotencyKey: f.key(), Member: ledger.MemberRef{ID: m.ID},
		Purchase: rub(minor), OrderID: f.key(), Category: category, CouponCode: coupon})
}

// cafeBase is the café's base points on a purchase: 5 % of it at one
// point per 1.00.
func cafeBase(minor int64) coalition.Points { return coalition.Points(minor * 500 / 10_000 / 100) }

// TestAnOfferReachesItsSegmentWithinItsScopeAndPeriod: the operator's
// offer for a segment, +50 % of the base points and 30 points on café
// purchases of groceries of at least 500.00, funded by the cinema, runs
// for a week from tomorrow. Only the segment's member gets it, only at
// the café, only for groceries above the minimum, only in the week; the
// points are a bonus transaction of the cinema's.
func TestAnOfferReachesItsSegmentWithinItsScopeAndPeriod(t *testing.T) {
	f := newFixture(t)
	in, out := f.enroll(f.cafe), f.enroll(f.cafe)
	f.segment(nil, "lapsed", in)
	f.createOffer(operator, offers.Offer{Code: "COMEBACK", Name: "Come back", Segment: "lapsed", MultiplierBP: 5_000, BonusPoints: 30,
		Partners: []string{"cafe"}, Categories: []string{"grocery"}, MinPurchaseMinor: 50_000,
		Starts: start.Add(24 * time.Hour), Ends: start.Add(8 * 24 * time.Hour), BudgetPoints: 10_000, FundedBy: "cinema"})

	type purchase struct {
		name     string
		after    time.Duration
		member   ledger.Member
		at       partners.Partner
		minor    int64
		category string
		offered  bool
	}
	for _, p := range []purchase{
		{"before the week", 0, in, f.cafe, 100_000, "grocery", false},
		{"in the week", 2 * 24 * time.Hour, in, f.cafe, 100_000, "grocery", true},
		{"not in the segment", 2 * 24 * time.Hour, out, f.cafe, 100_000, "grocery", false},
		{"another partner", 2 * 24 * time.Hour, in, f.cinema, 100_000, "grocery", false},
		{"another category", 2 * 24 * time.Hour, in, f.cafe, 100_000, "fuel", false},
		{"below the minimum", 2 * 24 * time.Hour, in, f.cafe, 49_999, "grocery", false},
		{"at the minimum", 2 * 24 * time.Hour, in, f.cafe, 50_000, "grocery", true},
		{"after the week", 8 * 24 * time.Hour, in, f.cafe, 100_000, "grocery", false},
	} {
		f.clock.Set(start.Add(p.after))
		r, err := f.accrueWith(p.at, p.member, p.minor, p.category, "")
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		line, ok := lineOf(r, rules.LineOffer, "COMEBACK")
		if ok != p.offered {
			t.Fatalf("%s: offer line %v, want %v (%+v)", p.name, ok, p.offered, r.Earning.Lines)
		}
		if !ok {
			continue
		}
		want := 30 + cafeBase(p.minor)/2
		if line.Points != want || line.Funder != "cinema" {
			t.Fatalf("%s: line %+v, want %d points funded by the cinema", p.name, line, want)
		}
		if len(r.Bonuses) != 1 || r.Bonuses[0].PartnerID != f.cinema.ID || r.Bonuses[0].Points != want {
			t.Fatalf("%s: bonuses %+v, want one of the cinema's for %d", p.name, r.Bonuses, want)
		}
		if r.Earning.Total != cafeBase(p.minor)+want {
			t.Fatalf("%s: total %d, want %d", p.name, r.Earning.Total, cafeBase(p.minor)+want)
		}
	}
	f.checkClean()
}

// TestAnOfferForAListOfMembersAndItsEnd: an offer names two members by
// card; a third gets nothing; once ended, nobody does.
func TestAnOfferForAListOfMembersAndItsEnd(t *testing.T) {
	f := newFixture(t)
	a, b, c := f.enroll(f.cafe), f.enroll(f.cafe), f.enroll(f.cafe)
	f.createOffer(operator, offers.Offer{Code: "VIP", Name: "VIP", Members: []string{a.CardNumber, b.CardNumber}, BonusPoints: 100,
		Starts: start, Ends: start.AddDate(0, 1, 0), BudgetPoints: 1_000, FundedBy: rules.FundedByPartner})
	for _, m := range []ledger.Member{a, b, c} {
		r, err := f.accrueWith(f.cafe, m, 10_000, "", "")
		if err != nil {
			t.Fatal(err)
		}
		line, ok := lineOf(r, rules.LineOffer, "VIP")
		if want := m.ID != c.ID; ok != want || (ok && (line.Points != 100 || line.Funder != "cafe")) {
			t.Fatalf("member %s: line %+v (%v), want one: %v", m.CardNumber, line, ok, want)
		}
	}
	if _, err := f.offers().End(f.ctx, operator, "VIP"); err != nil {
		t.Fatal(err)
	}
	r, err := f.accrueWith(f.cafe, a, 10_000, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lineOf(r, rules.LineOffer, "VIP"); ok {
		t.Fatalf("an ended offer still applied: %+v", r.Earning.Lines)
	}
	list, err := f.offers().List(f.ctx, operator)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].BudgetUsed != 200 || list[0].MemberCount != 2 || list[0].EndedAt == nil {
		t.Fatalf("listed %+v, want VIP ended with 200 of its budget used and 2 members", list)
	}
	f.checkClean()
}

// TestAnOffersBudgetIsNeverOverdrawnByConcurrentAccruals: 24 members of
// the segment buy at once; the offer's 1,000 points go to the first ten
// whole, and nobody gets a point more: the offer lines of every answer
// add up to the budget, and so do the lines on the ledger.
func TestAnOffersBudgetIsNeverOverdrawnByConcurrentAccruals(t *testing.T) {
	f := newFixtureWith(t, ledger.Config{Lanes: -1})
	var members []ledger.Member
	for range 24 {
		members = append(members, f.enroll(f.cafe))
	}
	f.segment(nil, "all", members...)
	f.createOffer(operator, offers.Offer{Code: "RUSH", Name: "Rush", Segment: "all", BonusPoints: 100,
		Starts: start, Ends: start.AddDate(0, 1, 0), BudgetPoints: 1_000, FundedBy: rules.FundedByOperator})
	var mu sync.Mutex
	var granted coalition.Points
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: fmt.Sprint("rush-", i), Member: ledger.MemberRef{ID: m.ID},
				Purchase: rub(10_000), OrderID: fmt.Sprint("rush-", i)})
			if err != nil {
				t.Error(err)
				return
			}
			if l, ok := lineOf(r, rules.LineOffer, "RUSH"); ok {
				mu.Lock()
				granted += l.Points
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if granted != 1_000 {
		t.Fatalf("the answers granted %d points of the offer, want its budget of 1000", granted)
	}
	var onLedger coalition.Points
	if err := f.pool.QueryRow(f.ctx, `SELECT COALESCE(SUM(points), 0) FROM earn_lines WHERE rule = 'offer' AND ref = 'RUSH'`).Scan(&onLedger); err != nil {
		t.Fatal(err)
	}
	if onLedger != 1_000 {
		t.Fatalf("the ledger holds %d points of the offer, want 1000", onLedger)
	}
	f.checkClean()
}

// couponOffer makes an offer for coupons only (30 points at the café,
// funded by it) and issues n coupons of maxUses each, bound to member if
// given.
func (f *fixture) couponOffer(code string, n, maxUses int, member *ledger.Member) []offers.Coupon {
	f.t.Helper()
	f.createOffer(operator, offers.Offer{Code: code, Name: code, BonusPoints: 30, Partners: []string{"cafe"},
		Starts: start, Ends: start.AddDate(0, 1, 0), BudgetPoints: 100_000, FundedBy: rules.FundedByPartner})
	in := offers.Issue{Offer: code, RequestKey: code + "-issue", Count: n, MaxUses: maxUses}
	if member != nil {
		in.MemberCard = member.CardNumber
	}
	cs, err := f.offers().IssueCoupons(f.ctx, operator, in)
	if err != nil {
		f.t.Fatal(err)
	}
	return cs
}

// raceCoupon has 16 tills present one code at once, each for its own
// member, and returns how many were accepted; every refusal must be a
// FailedPrecondition on coupon_code.
func (f *fixture) raceCoupon(code string) int {
	f.t.Helper()
	var members []ledger.Member
	for range 16 {
		members = append(members, f.enroll(f.cafe))
	}
	var mu sync.Mutex
	accepted := 0
	var wg sync.WaitGroup
	startLine := make(chan struct{})
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startLine
			key := fmt.Sprintf("race-%s-%d", code, i)
			r, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: key, Member: ledger.MemberRef{ID: m.ID},
				Purchase: rub(10_000), OrderID: key, CouponCode: offers.Printed(code)})
			if err != nil {
				e, ok := coalition.AsError(err)
				if !ok || e.Code != coalition.FailedPrecondition || e.Field != "coupon_code" || !strings.Contains(e.Message, "used up") {
					f.t.Errorf("till %d: %v, want the coupon refused as used up", i, err)
				}
				return
			}
			if l := r.Earning.Lines[len(r.Earning.Lines)-1]; l.Rule != rules.LineCoupon || l.Points != 30 {
				f.t.Errorf("till %d: lines %+v, want the coupon's 30 points", i, r.Earning.Lines)
			}
			mu.Lock()
			accepted++
			mu.Unlock()
		}()
	}
	close(startLine)
	wg.Wait()
	return accepted
}

// couponRows is what the ledger holds of a coupon's uses: the uses its
// row counts, the earns recorded as using it, and its offer's lines.
func (f *fixture) couponRows(code string) string {
	f.t.Helper()
	var uses, recorded, lines int
	if err := f.pool.QueryRow(f.ctx, `
		SELECT c.uses, (SELECT count(*) FROM coupon_uses AS u WHERE u.coupon_code = c.code),
		       (SELECT count(*) FROM earn_lines AS l JOIN coupon_uses AS u ON u.transaction_id = l.transaction_id
		        WHERE u.coupon_code = c.code AND l.rule = 'coupon')
		FROM coupons AS c WHERE c.code = $1`, code).Scan(&uses, &recorded, &lines); err != nil {
		f.t.Fatal(err)
	}
	return fmt.Sprintf("uses %d, recorded %d, lines %d", uses, recorded, lines)
}

// TestASingleUseCouponIsUsedOnceByConcurrentTills: 16 tills present the
// same single-use coupon at once; one accrual is accepted with the
// coupon's points, the 15 others are refused as used up and post nothing
// (their refusals alone are recorded, under their keys).
// Without batching, the 16 accruals are 16 transactions at once; with it,
// the lanes leave each coupon's accrual to a transaction of its own.
func TestASingleUseCouponIsUsedOnceByConcurrentTills(t *testing.T) {
	for _, lanes := range []int{-1, 0} {
		t.Run(fmt.Sprint("lanes ", lanes), func(t *testing.T) { singleUseRace(t, lanes) })
	}
}

func singleUseRace(t *testing.T, lanes int) {
	f := newFixtureWith(t, ledger.Config{Lanes: lanes})
	c := f.couponOffer("ONCE", 1, 1, nil)[0]
	earnsBefore := f.count("transactions WHERE kind = 'earn'")
	if n := f.raceCoupon(c.Code); n != 1 {
		t.Fatalf("%d tills used the single-use coupon, want 1", n)
	}
	if got := f.count("transactions WHERE kind = 'earn'") - earnsBefore; got != 1 {
		t.Fatalf("%d earns posted, want the one accepted", got)
	}
	if got := f.count("idempotency_keys WHERE outcome = 'refused' AND key LIKE 'race-%'"); got != 15 {
		t.Fatalf("%d refusals recorded, want 15", got)
	}
	if got, want := f.couponRows(c.Code), "uses 1, recorded 1, lines 1"; got != want {
		t.Fatalf("coupon: %s, want %s", got, want)
	}
	f.checkClean()
}

// TestALimitedUseCouponIsUsedExactlyItsLimit: a coupon of five uses,
// presented by 16 tills at once, is accepted exactly five times.
func TestALimitedUseCouponIsUsedExactlyItsLimit(t *testing.T) {
	f := newFixtureWith(t, ledger.Config{Lanes: -1})
	c := f.couponOffer("FIVE", 1, 5, nil)[0]
	if n := f.raceCoupon(c.Code); n != 5 {
		t.Fatalf("%d tills used the coupon of 5 uses, want 5", n)
	}
	if got, want := f.couponRows(c.Code), "uses 5, recorded 5, lines 5"; got != want {
		t.Fatalf("coupon: %s, want %s", got, want)
	}
	f.checkClean()
}

// TestACouponsAccrualReplaysWithoutUsingItAgain: the accrual that used a
// single-use coupon, sent again under its key, answers as the first time
// and takes no second use; another accrual with the coupon is refused,
// and that refusal replays as itself.
func TestACouponsAccrualReplaysWithoutUsingItAgain(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	c := f.couponOffer("REPLAY", 1, 1, nil)[0]
	req := ledger.Accrual{IdempotencyKey: "till-1", Member: ledger.MemberRef{ID: m.ID}, Purchase: rub(10_000), OrderID: "R-1",
		CouponCode: strings.ToLower(offers.Printed(c.Code))}
	first, err := f.l.Accrue(f.ctx, f.cafe.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := lineOf(first, rules.LineCoupon, "REPLAY"); !ok || l.Points != 30 || l.Funder != "cafe" {
		t.Fatalf("lines %+v, want the coupon's 30 points funded by the café", first.Earning.Lines)
	}
	before := f.writes()
	again, err := f.l.Accrue(f.ctx, f.cafe.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	if again.Transaction.ID != first.Transaction.ID || again.Earning.Total != first.Earning.Total {
		t.Fatalf("replay answered %+v, first %+v", again, first)
	}
	if after := f.writes(); after != before {
		t.Fatalf("the replay wrote rows: %s → %s", before, after)
	}
	if got, want := f.couponRows(c.Code), "uses 1, recorded 1, lines 1"; got != want {
		t.Fatalf("coupon after the replay: %s, want %s", got, want)
	}
	second := ledger.Accrual{IdempotencyKey: "till-2", Member: ledger.MemberRef{ID: m.ID}, Purchase: rub(10_000), OrderID: "R-2", CouponCode: c.Code}
	_, err = f.l.Accrue(f.ctx, f.cafe.ID, second)
	wantError(t, err, coalition.FailedPrecondition, "coupon_code")
	_, again2 := f.l.Accrue(f.ctx, f.cafe.ID, second)
	if again2 == nil || again2.Error() != err.Error() {
		t.Fatalf("the refusal replayed as %v, first %v", again2, err)
	}
	// Without the coupon, under a new key, the purchase earns.
	second.IdempotencyKey, second.CouponCode = "till-3", ""
	if _, err := f.l.Accrue(f.ctx, f.cafe.ID, second); err != nil {
		t.Fatal(err)
	}
	f.wantBalance(m, 2*cafeBase(10_000)+30, 0, 0, 0)
	f.checkClean()
}

// TestARefusedCouponWritesNothing: every way a coupon is refused names
// the coupon_code field with its reason, and leaves the ledger as it was
// but for the refusal's record.
func TestARefusedCouponWritesNothing(t *testing.T) {
	f := newFixture(t)
	m, other := f.enroll(f.cafe), f.enroll(f.cafe)
	bound := f.couponOffer("MINE", 1, 1, &m)[0]
	open := f.couponOffer("OPEN", 1, 3, nil)[0]
	unknown, err := offers.NewCode()
	if err != nil {
		t.Fatal(err)
	}
	mistyped := []byte(open.Code)
	mistyped[3] = map[bool]byte{true: 'A', false: 'B'}[mistyped[3] != 'A']

	before := f.writes()
	for _, c := range []struct {
		name, code string
		member     ledger.Member
		at         partners.Partner
		when       time.Duration
		status     coalition.Code
		says       string
	}{
		{"mistyped", string(mistyped), m, f.cafe, 0, coalition.Invalid, "check symbol"},
		{"unknown", unknown, m, f.cafe, 0, coalition.NotFound, "no coupon"},
		{"another member's", bound.Code, other, f.cafe, 0, coalition.FailedPrecondition, "another member"},
		{"at another partner", open.Code, m, f.cinema, 0, coalition.FailedPrecondition, "not valid at this partner"},
		{"expired", open.Code, m, f.cafe, 40 * 24 * time.Hour, coalition.FailedPrecondition, "expired"},
	} {
		f.clock.Set(start.Add(c.when))
		_, err := f.accrueWith(c.at, c.member, 10_000, "", c.code)
		wantError(t, err, c.status, "coupon_code")
		if !strings.Contains(err.Error(), c.says) {
			t.Fatalf("%s: %v, want it to say %q", c.name, err, c.says)
		}
	}
	f.clock.Set(start)
	if _, err := f.offers().End(f.ctx, operator, "OPEN"); err != nil {
		t.Fatal(err)
	}
	_, err = f.accrueWith(f.cafe, m, 10_000, "", open.Code)
	wantError(t, err, coalition.FailedPrecondition, "coupon_code")
	if after := f.writes(); after != before {
		t.Fatalf("refused coupons wrote rows: %s → %s", before, after)
	}
	if got := f.count("coupons WHERE uses > 0"); got != 0 {
		t.Fatalf("%d coupons counted a use", got)
	}
	f.checkClean()
}

// TestARefundGivesTheOffersBudgetBackButNotTheCoupon: refunding a
// purchase made with a coupon takes its points back and returns them to
// the offer's budget; the coupon stays used.
func TestARefundGivesTheOffersBudgetBackButNotTheCoupon(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	c := f.couponOffer("BACK", 1, 1, nil)[0]
	r, err := f.accrueWith(f.cafe, m, 10_000, "", c.Code)
	if err != nil {
		t.Fatal(err)
	}
	whole := rub(10_000)
	if _, err := f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: r.Transaction.ID, Purchase: &whole}); err != nil {
		t.Fatal(err)
	}
	list, err := f.offers().List(f.ctx, operator)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].BudgetUsed != 0 || list[0].CouponUses != 1 {
		t.Fatalf("after the refund: %+v, want no budget used and one coupon use", list)
	}
	f.wantBalance(m, 0, 0, 0, 0)
	f.checkClean()
}

// TestAPartnersOfferIsItsOwn: a partner's offer is funded by the partner
// and applies at its own tills, targets its own segments only, and is
// seen and ended by it and the operator alone.
func TestAPartnersOfferIsItsOwn(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	cafe, cinema := offers.Actor{Partner: f.cafe.ID}, offers.Actor{Partner: f.cinema.ID}
	f.segment(&f.cafe, "regulars", m)
	f.segment(&f.cinema, "moviegoers", m)
	week := offers.Offer{Code: "CAFE-WEEK", Name: "Café week", Segment: "regulars", BonusPoints: 10, Starts: start,
		Ends: start.AddDate(0, 0, 7), BudgetPoints: 100}
	for _, c := range []struct {
		name   string
		change func(*offers.Offer)
		status coalition.Code
		field  string
	}{
		{"funded by another", func(o *offers.Offer) { o.FundedBy = "cinema" }, coalition.PermissionDenied, "funded_by"},
		{"at another's tills", func(o *offers.Offer) { o.Partners = []string{"cafe", "cinema"} }, coalition.PermissionDenied, "partners"},
		{"another's segment", func(o *offers.Offer) { o.Segment = "moviegoers" }, coalition.NotFound, "segment"},
		{"no points", func(o *offers.Offer) { o.BonusPoints = 0 }, coalition.Invalid, "bonus_points"},
		{"ends before it starts", func(o *offers.Offer) { o.Ends = o.Starts }, coalition.Invalid, "ends"},
	} {
		o := week
		c.change(&o)
		_, err := f.offers().Create(f.ctx, cafe, o)
		wantError(t, err, c.status, c.field)
	}
	made := f.createOffer(cafe, week)
	if made.FundedBy != "cafe" || fmt.Sprint(made.Partners) != "[cafe]" || made.Owner != "cafe" {
		t.Fatalf("made %+v, want funded by and applied at the café", made)
	}
	if again := f.createOffer(cafe, week); again.Code != made.Code {
		t.Fatalf("the same offer asked again made %+v", again)
	}
	other := week
	other.BonusPoints = 11
	_, err := f.offers().Create(f.ctx, cafe, other)
	wantError(t, err, coalition.Conflict, "code")
	if list, err := f.offers().List(f.ctx, cinema); err != nil || len(list) != 0 {
		t.Fatalf("the cinema lists %+v (%v), want none of the café's offers", list, err)
	}
	_, err = f.offers().End(f.ctx, cinema, "CAFE-WEEK")
	wantError(t, err, coalition.NotFound, "code")
	_, err = f.offers().IssueCoupons(f.ctx, cinema, offers.Issue{Offer: "CAFE-WEEK", RequestKey: "k", Count: 1, MaxUses: 1})
	wantError(t, err, coalition.NotFound, "code")
	r, err := f.accrueWith(f.cafe, m, 10_000, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := lineOf(r, rules.LineOffer, "CAFE-WEEK"); !ok || l.Points != 10 || l.Funder != "cafe" || len(r.Bonuses) != 0 {
		t.Fatalf("lines %+v bonuses %+v, want the café's 10 points in its own earn", r.Earning.Lines, r.Bonuses)
	}
	f.checkClean()
}

// TestIssuingCouponsIsIdempotent: the same request key returns the same
// codes; another request under it is a conflict; codes read back as
// printed, and every one is distinct.
func TestIssuingCouponsIsIdempotent(t *testing.T) {
	f := newFixture(t)
	cs := f.couponOffer("ISSUE", 50, 2, nil)
	again, err := f.offers().IssueCoupons(f.ctx, operator, offers.Issue{Offer: "ISSUE", RequestKey: "ISSUE-issue", Count: 50, MaxUses: 2})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, c := range cs {
		if again[i].Code != c.Code {
			t.Fatalf("replayed issue gave %s at %d, first %s", again[i].Code, i, c.Code)
		}
		if got, ok := offers.Canonical(offers.Printed(c.Code)); !ok || got != c.Code || seen[c.Code] {
			t.Fatalf("code %s reads back as %q %v, or repeats", c.Code, got, ok)
		}
		seen[c.Code] = true
	}
	_, err = f.offers().IssueCoupons(f.ctx, operator, offers.Issue{Offer: "ISSUE", RequestKey: "ISSUE-issue", Count: 5, MaxUses: 2})
	wantError(t, err, coalition.Conflict, "request_key")
	if list, _ := f.offers().ListCoupons(f.ctx, operator, "ISSUE"); len(list) != 50 {
		t.Fatalf("listed %d coupons, want 50", len(list))
	}
}
