package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
)

func TestPointsEarnedAtOnePartnerAreSpentAtAnother(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	earn := f.accrue(f.cafe, m, 100_000) // 1000.00 RUB at 5 %, 1.00 RUB a point
	if earn.Transaction.Points != 50 || earn.Earning.Total != 50 || earn.Earning.Lines[0].Rule != "base" {
		t.Fatalf("earned %+v, want 50 points from the base rate", earn)
	}
	if !earn.SpendableFrom.Equal(start) || !earn.ExpiresAt.Equal(start.AddDate(0, 0, 365)) {
		t.Fatalf("lot spendable %s expires %s", earn.SpendableFrom, earn.ExpiresAt)
	}
	f.wantBalance(m, 50, 0, 0, 0)
	burn := f.redeem(f.cinema, m, 30)
	if burn.Points != -30 || burn.Kind != ledger.KindBurn {
		t.Fatalf("burn = %+v", burn)
	}
	f.wantBalance(m, 20, 0, 0, 0)
	want := map[string]int64{"burn cafe→cinema": 30}
	if got := f.consumptions(burn.ID); !maps.Equal(got, want) {
		t.Fatalf("consumptions = %v, want %v", got, want)
	}
	f.checkClean()
}

func TestBurnTakesPointsSoonestToExpireFirst(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cinema, m, 100_000) // 30 points, expiring first
	f.clock.Advance(24 * time.Hour)
	f.accrue(f.cafe, m, 100_000) // 50 points, a day later
	burn := f.redeem(f.fuel, m, 40)
	want := map[string]int64{"burn cinema→fuel": 30, "burn cafe→fuel": 10}
	if got := f.consumptions(burn.ID); !maps.Equal(got, want) {
		t.Fatalf("consumptions = %v, want %v", got, want)
	}
	f.checkClean()
}

func TestPendingPointsBecomeSpendableWhenTheReturnWindowPasses(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.fuel)
	r := f.accrue(f.fuel, m, 300_000) // 1 % of 3000.00 = 30 points, pending 14 days
	if want := start.Add(14 * 24 * time.Hour); !r.SpendableFrom.Equal(want) {
		t.Fatalf("spendable from %s, want %s", r.SpendableFrom, want)
	}
	f.wantBalance(m, 0, 30, 0, 0)
	_, err := f.l.Redeem(f.ctx, f.cafe.ID, ledger.Redemption{IdempotencyKey: f.key(), Member: ledger.MemberRef{ID: m.ID}, Points: 1, OrderID: "o"})
	wantError(t, err, coalition.FailedPrecondition, "points")
	f.clock.Advance(14*24*time.Hour - time.Second)
	f.wantBalance(m, 0, 30, 0, 0)
	f.clock.Advance(time.Second)
	f.wantBalance(m, 30, 0, 0, 0)
	f.redeem(f.cafe, m, 30)
	f.wantBalance(m, 0, 0, 0, 0)
	f.checkClean()
}

func TestReplayingAnIdempotencyKeyReturnsTheOriginalAndWritesNothing(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	req := ledger.Accrual{IdempotencyKey: "pos-7-receipt-1", Member: ledger.MemberRef{CardNumber: m.CardNumber}, Purchase: rub(100_000), OrderID: "R-1"}
	first, err := f.l.Accrue(f.ctx, f.cafe.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	before := f.writes()
	f.clock.Advance(time.Hour)
	again, err := f.l.Accrue(f.ctx, f.cafe.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, first) {
		t.Fatalf("replay returned %+v, want the original %+v", again, first)
	}
	if after := f.writes(); after != before {
		t.Fatalf("replay wrote rows: %s → %s", before, after)
	}
	// The same key with a different request is refused, and writes nothing.
	changed := req
	changed.Purchase = rub(200_000)
	_, err = f.l.Accrue(f.ctx, f.cafe.ID, changed)
	wantError(t, err, coalition.Conflict, "idempotency_key")
	_, err = f.l.Redeem(f.ctx, f.cafe.ID, ledger.Redemption{IdempotencyKey: req.IdempotencyKey, Member: req.Member, Points: 1, OrderID: "R-1"})
	wantError(t, err, coalition.Conflict, "idempotency_key")
	if after := f.writes(); after != before {
		t.Fatalf("refused request wrote rows: %s → %s", before, after)
	}
	// Keys are per partner: another partner may use the same key.
	if _, err := f.l.Redeem(f.ctx, f.cinema.ID, ledger.Redemption{IdempotencyKey: req.IdempotencyKey, Member: req.Member, Points: 5, OrderID: "C-1"}); err != nil {
		t.Fatal(err)
	}
	f.wantBalance(m, 45, 0, 0, 0)
	// A replay is answered from the record even when running the request
	// again would now fail: these 45 points are spent by the first run.
	spend := ledger.Redemption{IdempotencyKey: "pos-7-receipt-2", Member: req.Member, Points: 45, OrderID: "R-2"}
	spent, err := f.l.Redeem(f.ctx, f.cafe.ID, spend)
	if err != nil {
		t.Fatal(err)
	}
	before = f.writes()
	if again, err := f.l.Redeem(f.ctx, f.cafe.ID, spend); err != nil || !reflect.DeepEqual(again, spent) {
		t.Fatalf("replay of a redeem that spent everything: %+v, %v; want the original %+v", again, err, spent)
	}
	if after := f.writes(); after != before {
		t.Fatalf("replay wrote rows: %s → %s", before, after)
	}
	f.wantBalance(m, 0, 0, 0, 0)
	f.checkClean()
}

// TestConcurrentUsesOfOneKeyPostOnce sends the same accrual under the same
// key from eight goroutines at once, as a POS retrying on timeouts might:
// one earn is posted and every caller gets its result.
func TestConcurrentUsesOfOneKeyPostOnce(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	req := ledger.Accrual{IdempotencyKey: "pos-9-receipt-1", Member: ledger.MemberRef{ID: m.ID}, Purchase: rub(100_000), OrderID: "R-9"}
	results := make([]ledger.AccrueResult, 8)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = f.l.Accrue(f.ctx, f.cafe.ID, req)
		}()
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if results[i].Transaction.ID != results[0].Transaction.ID {
			t.Fatalf("callers got different transactions: %s and %s", results[0].Transaction.ID, results[i].Transaction.ID)
		}
	}
	var earns int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM transactions WHERE kind = 'earn'`).Scan(&earns); err != nil {
		t.Fatal(err)
	}
	if earns != 1 {
		t.Fatalf("%d earns posted, want 1", earns)
	}
	f.wantBalance(m, 50, 0, 0, 0)
	f.checkClean()
}

func TestAnOrderEarnsOnlyOnce(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	req := ledger.Accrual{IdempotencyKey: "a", Member: ledger.MemberRef{ID: m.ID}, Purchase: rub(100_000), OrderID: "R-1"}
	if _, err := f.l.Accrue(f.ctx, f.cafe.ID, req); err != nil {
		t.Fatal(err)
	}
	before := f.writes()
	req.IdempotencyKey = "b"
	_, err := f.l.Accrue(f.ctx, f.cafe.ID, req)
	wantError(t, err, coalition.Conflict, "order_id")
	if after := f.writes(); after != before {
		t.Fatalf("wrote rows: %s → %s", before, after)
	}
}

func TestTwoPhaseBurnHoldsCapturesAndReleases(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000) // 50
	ref := ledger.MemberRef{ID: m.ID}
	hold, err := f.l.Authorize(f.ctx, f.cinema.ID, ledger.Authorization{IdempotencyKey: f.key(), Member: ref, Points: 40, OrderID: "T-1"})
	if err != nil {
		t.Fatal(err)
	}
	if hold.Status != ledger.HoldActive || !hold.ExpiresAt.Equal(start.Add(15*time.Minute)) {
		t.Fatalf("hold = %+v, want active for the default 15 minutes", hold)
	}
	f.wantBalance(m, 10, 0, 40, 0)
	// The held points cannot be spent elsewhere.
	_, err = f.l.Redeem(f.ctx, f.fuel.ID, ledger.Redemption{IdempotencyKey: f.key(), Member: ref, Points: 11, OrderID: "F-1"})
	wantError(t, err, coalition.FailedPrecondition, "points")
	// Nor captured beyond the hold, nor by another partner.
	over := coalition.Points(41)
	before := f.writes()
	_, err = f.l.Capture(f.ctx, f.cinema.ID, ledger.Capture{IdempotencyKey: f.key(), HoldID: hold.ID, Points: &over})
	wantError(t, err, coalition.FailedPrecondition, "points")
	_, err = f.l.Capture(f.ctx, f.fuel.ID, ledger.Capture{IdempotencyKey: f.key(), HoldID: hold.ID})
	wantError(t, err, coalition.NotFound, "hold_id")
	if after := f.writes(); after != before {
		t.Fatalf("refused captures wrote rows: %s → %s", before, after)
	}
	part := coalition.Points(25)
	res, err := f.l.Capture(f.ctx, f.cinema.ID, ledger.Capture{IdempotencyKey: f.key(), HoldID: hold.ID, Points: &part})
	if err != nil {
		t.Fatal(err)
	}
	if res.Transaction.Points != -25 || res.Hold.Status != ledger.HoldCaptured || res.Hold.CapturedPoints != 25 || *res.Transaction.HoldID != hold.ID {
		t.Fatalf("capture = %+v", res)
	}
	// The uncaptured 15 points are released.
	f.wantBalance(m, 25, 0, 0, 0)
	_, err = f.l.Capture(f.ctx, f.cinema.ID, ledger.Capture{IdempotencyKey: f.key(), HoldID: hold.ID})
	wantError(t, err, coalition.FailedPrecondition, "hold_id")
	_, err = f.l.Void(f.ctx, f.cinema.ID, ledger.Void{IdempotencyKey: f.key(), HoldID: hold.ID})
	wantError(t, err, coalition.FailedPrecondition, "hold_id")

	// A voided hold releases everything.
	h2, err := f.l.Authorize(f.ctx, f.cinema.ID, ledger.Authorization{IdempotencyKey: f.key(), Member: ref, Points: 20, OrderID: "T-2"})
	if err != nil {
		t.Fatal(err)
	}
	f.wantBalance(m, 5, 0, 20, 0)
	v, err := f.l.Void(f.ctx, f.cinema.ID, ledger.Void{IdempotencyKey: f.key(), HoldID: h2.ID})
	if err != nil || v.Status != ledger.HoldVoided {
		t.Fatalf("void = %+v, %v", v, err)
	}
	f.wantBalance(m, 25, 0, 0, 0)
	f.checkClean()
}

func TestAHoldExpiresAfterItsTTL(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000) // 50
	hold, err := f.l.Authorize(f.ctx, f.cinema.ID, ledger.Authorization{IdempotencyKey: f.key(), Member: ledger.MemberRef{ID: m.ID}, Points: 50, OrderID: "T-1", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	f.wantBalance(m, 0, 0, 50, 0)
	f.clock.Advance(time.Minute)
	// Past its TTL the hold no longer counts, even before the sweeper runs.
	f.wantBalance(m, 50, 0, 0, 0)
	_, err = f.l.Capture(f.ctx, f.cinema.ID, ledger.Capture{IdempotencyKey: f.key(), HoldID: hold.ID})
	wantError(t, err, coalition.FailedPrecondition, "hold_id")
	f.clock.Advance(2 * time.Minute)
	breaches, err := f.l.Check(f.ctx, time.Minute)
	if err != nil || len(breaches) != 1 || breaches[0].Invariant != "no hold outlives its TTL unreleased" {
		t.Fatalf("check before the sweep = %v, %v; want the unreleased hold reported", breaches, err)
	}
	n, err := f.l.ReleaseExpiredHolds(f.ctx, 100)
	if err != nil || n != 1 {
		t.Fatalf("released %d, %v; want 1", n, err)
	}
	f.checkClean()
}

func TestPartialRefundsOfAnEarnClawBackProportionallyAndAddUpExactly(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	earn := f.accrue(f.cafe, m, 100_000) // 50 points
	refund := func(minor int64) (ledger.RefundResult, error) {
		amount := rub(minor)
		return f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: earn.Transaction.ID, Purchase: &amount})
	}
	// A third of the purchase: the member keeps floor(50 × 666.67 / 1000) = 33.
	r1, err := refund(33_333)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Transaction.Points != -17 || r1.DebtPoints != 0 || *r1.Transaction.OriginalID != earn.Transaction.ID {
		t.Fatalf("first refund = %+v, want 17 points clawed back", r1)
	}
	f.wantBalance(m, 33, 0, 0, 0)
	// The rest of the purchase takes exactly the rest of the points.
	r2, err := refund(66_667)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Transaction.Points != -33 {
		t.Fatalf("second refund = %+v, want 33", r2)
	}
	f.wantBalance(m, 0, 0, 0, 0)
	before := f.writes()
	_, err = refund(1)
	wantError(t, err, coalition.FailedPrecondition, "purchase.minor")
	if after := f.writes(); after != before {
		t.Fatalf("refused refund wrote rows: %s → %s", before, after)
	}
	f.checkClean()
}

func TestRefundOfSpentPointsLeavesADebtThatLaterEarningsPay(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	earn := f.accrue(f.cafe, m, 100_000) // 50 at the café
	f.redeem(f.cinema, m, 50)            // all spent at the cinema
	amount := rub(100_000)
	r, err := f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: earn.Transaction.ID, Purchase: &amount})
	if err != nil {
		t.Fatal(err)
	}
	if r.Transaction.Points != -50 || r.DebtPoints != 50 {
		t.Fatalf("refund = %+v, want 50 clawed back, all of it owed", r)
	}
	f.wantBalance(m, -50, 0, 0, 50)
	_, err = f.l.Redeem(f.ctx, f.cinema.ID, ledger.Redemption{IdempotencyKey: f.key(), Member: ledger.MemberRef{ID: m.ID}, Points: 1, OrderID: "x"})
	wantError(t, err, coalition.FailedPrecondition, "points")
	f.checkClean()
	// 3 % of 2000.00 at the cinema = 60 points: 50 pay the café back.
	pay := f.accrue(f.cinema, m, 200_000)
	want := map[string]int64{"debt cinema→cafe": 50}
	if got := f.consumptions(pay.Transaction.ID); !maps.Equal(got, want) {
		t.Fatalf("consumptions = %v, want %v", got, want)
	}
	f.wantBalance(m, 10, 0, 0, 0)
	f.checkClean()
}

func TestRefundOfSpentPointsTakesOtherPointsBeforeLeavingDebt(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	earn := f.accrue(f.cafe, m, 100_000) // 50 at the café
	f.redeem(f.cinema, m, 50)
	f.accrue(f.fuel, m, 200_000) // 20 pending at the fuel station
	amount := rub(100_000)
	r, err := f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: earn.Transaction.ID, Purchase: &amount})
	if err != nil {
		t.Fatal(err)
	}
	if r.DebtPoints != 30 {
		t.Fatalf("debt = %d, want 30 (50 clawed back less the 20 the member still had)", r.DebtPoints)
	}
	want := map[string]int64{"debt fuel→cafe": 20}
	if got := f.consumptions(r.Transaction.ID); !maps.Equal(got, want) {
		t.Fatalf("consumptions = %v, want %v", got, want)
	}
	f.wantBalance(m, -30, 0, 0, 30)
	f.checkClean()
}

func TestRefundOfABurnGivesPointsBackToTheirIssuers(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000) // 50, expiring first
	f.clock.Advance(time.Hour)
	f.accrue(f.cinema, m, 100_000) // 30
	burn := f.redeem(f.fuel, m, 60)
	if got, want := f.consumptions(burn.ID), map[string]int64{"burn cafe→fuel": 50, "burn cinema→fuel": 10}; !maps.Equal(got, want) {
		t.Fatalf("burn consumptions = %v, want %v", got, want)
	}
	points := coalition.Points(25)
	r, err := f.l.Refund(f.ctx, f.fuel.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: burn.ID, Points: &points})
	if err != nil {
		t.Fatal(err)
	}
	// Latest to expire first: the cinema's 10, then 15 of the café's.
	if got, want := f.consumptions(r.Transaction.ID), map[string]int64{"burn_refund cinema→fuel": -10, "burn_refund cafe→fuel": -15}; !maps.Equal(got, want) {
		t.Fatalf("refund consumptions = %v, want %v", got, want)
	}
	f.wantBalance(m, 45, 0, 0, 0)
	over := coalition.Points(36)
	_, err = f.l.Refund(f.ctx, f.fuel.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: burn.ID, Points: &over})
	wantError(t, err, coalition.FailedPrecondition, "points")
	rest := coalition.Points(35)
	if _, err := f.l.Refund(f.ctx, f.fuel.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: burn.ID, Points: &rest}); err != nil {
		t.Fatal(err)
	}
	f.wantBalance(m, 80, 0, 0, 0)
	// Only the partner that made a transaction may refund it.
	one := coalition.Points(1)
	_, err = f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: burn.ID, Points: &one})
	wantError(t, err, coalition.NotFound, "transaction_id")
	f.checkClean()
}

func TestMembersAreFoundByCardPhoneAndQRToken(t *testing.T) {
	f := newFixture(t)
	m, err := f.l.Enroll(f.ctx, f.cafe.ID, ledger.Enrollment{IdempotencyKey: f.key(), Phone: "+79161234567"})
	if err != nil {
		t.Fatal(err)
	}
	if m.PhoneLast2 != "67" || len(m.CardNumber) != 16 || m.QRToken == "" || len(m.ReferralCode) != 8 {
		t.Fatalf("member = %+v", m)
	}
	var stored int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM members WHERE phone_hash IS NOT NULL AND phone_last2 = '67'`).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("phone stored as hash: %d, %v", stored, err)
	}
	for _, ref := range []ledger.MemberRef{{ID: m.ID}, {CardNumber: m.CardNumber}, {Phone: "+79161234567"}, {QRToken: m.QRToken}} {
		got, err := f.l.Lookup(f.ctx, f.cinema.ID, ref)
		if err != nil || got.ID != m.ID || got.QRToken != "" {
			t.Fatalf("lookup %+v = %+v, %v", ref, got, err)
		}
	}
	// The same phone cannot enroll twice; a referral code links a new member.
	_, err = f.l.Enroll(f.ctx, f.cinema.ID, ledger.Enrollment{IdempotencyKey: f.key(), Phone: "+79161234567"})
	wantError(t, err, coalition.Conflict, "phone")
	if _, err := f.l.Enroll(f.ctx, f.cinema.ID, ledger.Enrollment{IdempotencyKey: f.key(), ReferralCode: m.ReferralCode}); err != nil {
		t.Fatal(err)
	}
	_, err = f.l.Enroll(f.ctx, f.cinema.ID, ledger.Enrollment{IdempotencyKey: f.key(), ReferralCode: "ZZZZZZZZ"})
	wantError(t, err, coalition.NotFound, "referral_code")
}

func TestBadRequestsAreRefusedPreciselyAndWriteNothing(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000)
	ref := ledger.MemberRef{ID: m.ID}
	badCard := m.CardNumber[:15] + string('0'+(m.CardNumber[15]-'0'+1)%10)
	cases := []struct {
		name  string
		call  func() error
		code  coalition.Code
		field string
	}{
		{"zero purchase", func() error {
			_, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: f.key(), Member: ref, Purchase: rub(0), OrderID: "o"})
			return err
		}, coalition.Invalid, "purchase.minor"},
		{"negative purchase", func() error {
			_, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: f.key(), Member: ref, Purchase: rub(-5), OrderID: "o"})
			return err
		}, coalition.Invalid, "purchase.minor"},
		{"overflowing purchase", func() error {
			_, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: f.key(), Member: ref, Purchase: rub(1 << 62), OrderID: "o"})
			return err
		}, coalition.Invalid, "purchase.minor"},
		{"wrong currency", func() error {
			_, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: f.key(), Member: ref, Purchase: coalition.Money{Minor: 100, Currency: "EUR"}, OrderID: "o"})
			return err
		}, coalition.Invalid, "purchase.currency"},
		{"unknown member", func() error {
			_, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: f.key(), Member: ledger.MemberRef{ID: coalition.NewMemberID()}, Purchase: rub(100), OrderID: "o"})
			return err
		}, coalition.NotFound, "member.member_id"},
		{"card with a wrong check digit", func() error {
			_, err := f.l.Redeem(f.ctx, f.cafe.ID, ledger.Redemption{IdempotencyKey: f.key(), Member: ledger.MemberRef{CardNumber: badCard}, Points: 1, OrderID: "o"})
			return err
		}, coalition.Invalid, "member.card_number"},
		{"zero points", func() error {
			_, err := f.l.Redeem(f.ctx, f.cafe.ID, ledger.Redemption{IdempotencyKey: f.key(), Member: ref, Points: 0, OrderID: "o"})
			return err
		}, coalition.Invalid, "points"},
		{"overflowing points", func() error {
			_, err := f.l.Authorize(f.ctx, f.cafe.ID, ledger.Authorization{IdempotencyKey: f.key(), Member: ref, Points: coalition.MaxAmount + 1, OrderID: "o"})
			return err
		}, coalition.Invalid, "points"},
		{"more points than the member has", func() error {
			_, err := f.l.Redeem(f.ctx, f.cafe.ID, ledger.Redemption{IdempotencyKey: f.key(), Member: ref, Points: 51, OrderID: "o"})
			return err
		}, coalition.FailedPrecondition, "points"},
		{"over-long order id", func() error {
			_, err := f.l.Redeem(f.ctx, f.cafe.ID, ledger.Redemption{IdempotencyKey: f.key(), Member: ref, Points: 1, OrderID: string(make([]byte, 65))})
			return err
		}, coalition.Invalid, "order_id"},
		{"hold TTL beyond a week", func() error {
			_, err := f.l.Authorize(f.ctx, f.cafe.ID, ledger.Authorization{IdempotencyKey: f.key(), Member: ref, Points: 1, OrderID: "o", TTL: 8 * 24 * time.Hour})
			return err
		}, coalition.Invalid, "ttl"},
		{"refund of an unknown transaction", func() error {
			p := coalition.Points(1)
			_, err := f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: uuid.New(), Points: &p})
			return err
		}, coalition.NotFound, "transaction_id"},
		{"missing idempotency key", func() error {
			_, err := f.l.Redeem(f.ctx, f.cafe.ID, ledger.Redemption{Member: ref, Points: 1, OrderID: "o"})
			return err
		}, coalition.Invalid, "idempotency_key"},
		{"unknown partner", func() error {
			_, err := f.l.Redeem(f.ctx, coalition.NewPartnerID(), ledger.Redemption{IdempotencyKey: f.key(), Member: ref, Points: 1, OrderID: "o"})
			return err
		}, coalition.PermissionDenied, ""},
	}
	before := f.writes()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.call(), tc.code, tc.field)
			if after := f.writes(); after != before {
				t.Fatalf("wrote rows: %s → %s", before, after)
			}
		})
	}
}

func TestHistoryIsNewestFirstPagedAndScopedToThePartner(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	for range 5 {
		f.accrue(f.cafe, m, 10_000)
		f.clock.Advance(time.Minute)
	}
	f.redeem(f.cinema, m, 3)
	ref := ledger.MemberRef{ID: m.ID}
	var all []ledger.Transaction
	token := ""
	for {
		page, next, err := f.l.History(f.ctx, f.cafe.ID, ref, 2, token)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		token = next
	}
	if len(all) != 6 || all[0].Kind != ledger.KindBurn {
		t.Fatalf("home partner sees %d transactions, newest %v; want 6, newest the burn", len(all), all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].CreatedAt.After(all[i-1].CreatedAt) {
			t.Fatalf("history not newest first at %d", i)
		}
	}
	// The cinema did not enroll the member: it sees only its own burn.
	page, _, err := f.l.History(f.ctx, f.cinema.ID, ref, 50, "")
	if err != nil || len(page) != 1 || page[0].PartnerID != f.cinema.ID {
		t.Fatalf("cinema sees %v, %v", page, err)
	}
	_, _, err = f.l.History(f.ctx, f.cafe.ID, ref, 10, "not-a-token")
	wantError(t, err, coalition.Invalid, "page_token")
}

func TestSuspendedPartnerIsRefused(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	if _, err := f.pool.Exec(f.ctx, `UPDATE partners SET status = 'suspended' WHERE id = $1`, f.cinema.ID); err != nil {
		t.Fatal(err)
	}
	_, err := f.l.Accrue(f.ctx, f.cinema.ID, ledger.Accrual{IdempotencyKey: "k", Member: ledger.MemberRef{ID: m.ID}, Purchase: rub(100), OrderID: "o"})
	wantError(t, err, coalition.PermissionDenied, "")
}

func TestCheckReportsABrokenLedger(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	earn := f.accrue(f.cafe, m, 100_000)
	f.checkClean()
	// Tamper: an extra entry that unbalances the earn and the member's lots.
	if _, err := f.pool.Exec(f.ctx, `
		INSERT INTO entries (transaction_id, seq, account_id, amount)
		SELECT $1, 99, points_account_id, 7 FROM members WHERE id = $2`, earn.Transaction.ID, m.ID); err != nil {
		t.Fatal(err)
	}
	breaches, err := f.l.Check(f.ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, b := range breaches {
		got[b.Invariant] = true
	}
	for _, want := range []string{
		"every transaction's entries sum to zero",
		"a transaction's points are the member's entries",
		"a member's points account equals the member's lots",
	} {
		if !got[want] {
			t.Errorf("check missed %q; reported %v", want, breaches)
		}
	}
}

// The posting tables' references are checked by the ledger, not by
// foreign keys (migration 0025): a row naming what does not exist is a
// breach the check reports, whichever table and column it is in.
func TestCheckReportsAPostingThatNamesWhatDoesNotExist(t *testing.T) {
	for _, c := range []struct{ name, sql, want string }{
		{"a transaction's member", `UPDATE transactions SET member_id = $1 WHERE id = $2`, "no member"},
		{"a transaction's partner", `UPDATE transactions SET partner_id = $1 WHERE id = $2`, "no partner"},
		{"an entry's account", `UPDATE entries SET account_id = $1 WHERE transaction_id = $2 AND seq = 1`, "no account"},
		{"an earn line's funder", `UPDATE earn_lines SET funder_id = $1 WHERE transaction_id = $2`, "no funder"},
		{"a lot's issuer", `UPDATE lots SET issuer_id = $1 WHERE transaction_id = $2`, "no issuer"},
		{"a consumption's redeemer", `UPDATE lot_consumptions SET redeemer_id = $1 WHERE lot_id = (SELECT id FROM lots WHERE transaction_id = $2)`, "no redeemer"},
		{"a key's partner", `UPDATE idempotency_keys SET partner_id = $1 WHERE partner_id = (SELECT partner_id FROM transactions WHERE id = $2)`, "names no partner"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			m := f.enroll(f.cafe)
			earn := f.accrue(f.cafe, m, 100_000)
			f.redeem(f.fuel, m, 10)
			f.checkClean()
			tag, err := f.pool.Exec(f.ctx, c.sql, uuid.New(), earn.Transaction.ID)
			if err != nil || tag.RowsAffected() == 0 {
				t.Fatalf("tamper: %v, %d rows", err, tag.RowsAffected())
			}
			breaches, err := f.l.Check(f.ctx, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range breaches {
				if b.Invariant == "every posting row names rows that exist" && strings.Contains(b.Detail, c.want) {
					return
				}
			}
			t.Errorf("check missed the dangling reference (%s); reported %v", c.want, breaches)
		})
	}
}

func TestCheckReportsAnOutstandingFigureThatDisagreesWithThePostings(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000)
	f.redeem(f.fuel, m, 10)
	f.checkClean()
	if _, err := f.pool.Exec(f.ctx, `
		UPDATE partner_day_outstanding SET points = points + 1
		WHERE (partner_id, business_date, shard) = (SELECT partner_id, business_date, shard FROM partner_day_outstanding
		                                            WHERE partner_id = $1 LIMIT 1)`, f.cafe.ID); err != nil {
		t.Fatal(err)
	}
	breaches, err := f.l.Check(f.ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(breaches) != 1 || !strings.HasPrefix(breaches[0].Invariant, "a partner's outstanding running figure") {
		t.Fatalf("check reported %v; want the cafe's outstanding figure off by one", breaches)
	}
}

func TestExpiredPointsBecomeBreakageOfTheirIssuer(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000) // 50, expiring first
	f.clock.Advance(24 * time.Hour)
	f.accrue(f.cinema, m, 100_000) // 30
	f.redeem(f.fuel, m, 20)        // from the café's lot
	f.clock.Advance(364 * 24 * time.Hour)
	// The café's lot has expired: it no longer counts, even before the job.
	f.wantBalance(m, 30, 0, 0, 0)
	n, err := f.l.ExpireLots(f.ctx, 100)
	if err != nil || n != 1 {
		t.Fatalf("expired %d lots, %v; want the café's one", n, err)
	}
	var points int64
	if err := f.pool.QueryRow(f.ctx, `
		SELECT t.points FROM transactions t WHERE t.kind = 'expire' AND t.partner_id = $1`, f.cafe.ID).Scan(&points); err != nil || points != -30 {
		t.Fatalf("expire posting = %d, %v; want -30 (50 earned, 20 spent)", points, err)
	}
	if n, err := f.l.ExpireLots(f.ctx, 100); err != nil || n != 0 {
		t.Fatalf("second run expired %d, %v; want nothing", n, err)
	}
	f.wantBalance(m, 30, 0, 0, 0)
	f.checkClean()
}

func TestPhoneNumbersAreNotRecoverableFromStoredRequests(t *testing.T) {
	f := newFixture(t)
	const number = "+79161234567"
	m, err := f.l.Enroll(f.ctx, f.cafe.ID, ledger.Enrollment{IdempotencyKey: "e", Phone: number})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: "a", Member: ledger.MemberRef{Phone: number},
		Purchase: rub(100_000), OrderID: "o"}); err != nil {
		t.Fatal(err)
	}
	// What an attacker with the table would try: the unkeyed hash of each
	// request with the number in clear.
	guesses := map[string][]byte{}
	for op, req := range map[string]any{
		"enroll": ledger.Enrollment{Phone: number},
		"accrue": ledger.Accrual{Member: ledger.MemberRef{Phone: number}, Purchase: rub(100_000), OrderID: "o"},
	} {
		b, _ := json.Marshal(req)
		sum := sha256.Sum256(append([]byte(op+"\x00"), b...))
		guesses[op] = sum[:]
	}
	rows, err := f.pool.Query(f.ctx, `SELECT operation, request_hash, response FROM idempotency_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var op string
		var hash, resp []byte
		if err := rows.Scan(&op, &hash, &resp); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(hash, guesses[op]) || bytes.Contains(resp, []byte("9161234567")) {
			t.Fatalf("%s record reveals the phone number", op)
		}
	}
	// The number still finds the member.
	if got, err := f.l.Lookup(f.ctx, f.cinema.ID, ledger.MemberRef{Phone: number}); err != nil || got.ID != m.ID {
		t.Fatalf("lookup by phone = %v, %v", got.ID, err)
	}
}

func TestAccrualsBeyondThePartnersLiabilityLimitAreRefused(t *testing.T) {
	f := newFixture(t)
	if _, err := f.pool.Exec(f.ctx, `UPDATE partners SET liability_limit_points = 60 WHERE id = $1`, f.cafe.ID); err != nil {
		t.Fatal(err)
	}
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000) // 50 outstanding
	before := f.writes()
	_, err := f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: "over", Member: ledger.MemberRef{ID: m.ID}, Purchase: rub(100_000), OrderID: "over"})
	wantError(t, err, coalition.FailedPrecondition, "")
	if e, _ := coalition.AsError(err); !strings.Contains(e.Message, "liability limit") {
		t.Fatalf("message %q does not say why", e.Message)
	}
	if after := f.writes(); after != before {
		t.Fatalf("refused accrual wrote rows: %s → %s", before, after)
	}
	// Other partners are not capped; spending the café's points frees room.
	f.clock.Advance(time.Minute) // the cinema's points expire after the café's
	f.accrue(f.cinema, m, 100_000)
	f.redeem(f.fuel, m, 40) // 40 of the café's 50
	f.accrue(f.cafe, m, 100_000)
	// The cap follows the partner's row at once: lowered, the next accrual
	// is refused; lifted, any accrual passes.
	if _, err := f.pool.Exec(f.ctx, `UPDATE partners SET liability_limit_points = 70 WHERE id = $1`, f.cafe.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.l.Accrue(f.ctx, f.cafe.ID, ledger.Accrual{IdempotencyKey: "over-again", Member: ledger.MemberRef{ID: m.ID}, Purchase: rub(100_000), OrderID: "over-again"})
	wantError(t, err, coalition.FailedPrecondition, "")
	if _, err := f.pool.Exec(f.ctx, `UPDATE partners SET liability_limit_points = NULL WHERE id = $1`, f.cafe.ID); err != nil {
		t.Fatal(err)
	}
	f.accrue(f.cafe, m, 10_000_000) // 5,000 points, no cap
	f.checkClean()
}

// A refund of a burn while the member owes points pays the debt in the same
// transaction; those debt payments must not count as more of the burn left
// to refund (found by the property test).
func TestABurnCannotBeRefundedTwiceThroughDebtPayments(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	earn := f.accrue(f.cafe, m, 100_000) // 50
	burn := f.redeem(f.cinema, m, 50)
	all := rub(100_000)
	if _, err := f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: earn.Transaction.ID, Purchase: &all}); err != nil {
		t.Fatal(err)
	}
	f.wantBalance(m, -50, 0, 0, 50)
	ten := coalition.Points(10)
	if _, err := f.l.Refund(f.ctx, f.cinema.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: burn.ID, Points: &ten}); err != nil {
		t.Fatal(err)
	}
	f.wantBalance(m, -40, 0, 0, 40) // the 10 given back paid the debt
	over := coalition.Points(41)
	_, err := f.l.Refund(f.ctx, f.cinema.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: burn.ID, Points: &over})
	wantError(t, err, coalition.FailedPrecondition, "points")
	rest := coalition.Points(40)
	if _, err := f.l.Refund(f.ctx, f.cinema.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: burn.ID, Points: &rest}); err != nil {
		t.Fatal(err)
	}
	f.wantBalance(m, 0, 0, 0, 0)
	f.checkClean()
}
