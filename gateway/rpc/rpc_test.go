package rpc_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/coalition-loyalty/coalition/coalition/card"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

func TestEnrollIssuesACardAQRTokenAReferralCodeAndMasksThePhone(t *testing.T) {
	e := newEnv(t)
	res, err := e.client.EnrollMember(e.as("cafe"), &pb.EnrollMemberRequest{IdempotencyKey: e.key(), Phone: "+79161234567"})
	if err != nil {
		t.Fatal(err)
	}
	m := res.GetMember()
	if !card.ValidNumber(m.GetCardNumber()) || len(m.GetCardNumber()) != 16 {
		t.Errorf("card number %q is not 16 digits passing Luhn", m.GetCardNumber())
	}
	if n := len(m.GetQrToken()); n < 16 || n > 64 {
		t.Errorf("QR token %q: %d characters, want what MemberRef.qr_token accepts (16-64)", m.GetQrToken(), n)
	}
	if len(m.GetReferralCode()) != 8 {
		t.Errorf("referral code %q, want 8 characters", m.GetReferralCode())
	}
	if m.GetPhoneMasked() != "+••••••••67" {
		t.Errorf("masked phone = %q, want only the last two digits shown", m.GetPhoneMasked())
	}
	if m.GetHomePartnerId() != e.cafe.ID.String() || !m.GetEnrolledAt().AsTime().Equal(start) || m.GetId() == "" {
		t.Errorf("member = %v, want enrolled now at the café", m)
	}

	// A friend enrolls at the cinema with the member's referral code.
	friend, err := e.client.EnrollMember(e.as("cinema"), &pb.EnrollMemberRequest{IdempotencyKey: e.key(), ReferralCode: m.GetReferralCode()})
	if err != nil {
		t.Fatal(err)
	}
	if f := friend.GetMember(); f.GetId() == m.GetId() || f.GetCardNumber() == m.GetCardNumber() || f.GetPhoneMasked() != "" ||
		f.GetHomePartnerId() != e.cinema.ID.String() {
		t.Errorf("friend = %v, want a new member of the cinema without a phone", f)
	}
}

func TestLookupFindsAMemberByCardPhoneQRTokenAndID(t *testing.T) {
	e := newEnv(t)
	res, err := e.client.EnrollMember(e.as("cafe"), &pb.EnrollMemberRequest{IdempotencyKey: e.key(), Phone: "+79161234567"})
	if err != nil {
		t.Fatal(err)
	}
	m := res.GetMember()
	e.enroll("cafe") // someone else, not to be found
	for _, tc := range []struct {
		name string
		ref  *pb.MemberRef
	}{
		{"card", byCard(m.GetCardNumber())},
		{"phone", byPhone("+79161234567")},
		{"QR token", byQR(m.GetQrToken())},
		{"id", byID(m)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Any partner's till can look a member up, not only the home partner's.
			got, err := e.client.LookupMember(e.as("cinema"), &pb.LookupMemberRequest{Member: tc.ref})
			if err != nil {
				t.Fatal(err)
			}
			g := got.GetMember()
			if g.GetId() != m.GetId() || g.GetCardNumber() != m.GetCardNumber() || g.GetReferralCode() != m.GetReferralCode() ||
				g.GetPhoneMasked() != m.GetPhoneMasked() || g.GetHomePartnerId() != m.GetHomePartnerId() ||
				!g.GetEnrolledAt().AsTime().Equal(m.GetEnrolledAt().AsTime()) {
				t.Fatalf("found %v, want %v", g, m)
			}
			if g.GetQrToken() != "" {
				t.Fatalf("lookup returned the QR token %q; only enrollment may", g.GetQrToken())
			}
		})
	}
}

func TestAccrueEarnsThePartnersRateWithABreakdownAndDates(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	res, err := e.client.Accrue(e.as("cafe"), &pb.AccrueRequest{
		IdempotencyKey: e.key(), Member: byCard(m.GetCardNumber()), Purchase: rub(100_000), OrderId: "C-1", Category: "coffee",
	})
	if err != nil {
		t.Fatal(err)
	}
	// 1000 RUB at 5 %, a point worth 1 RUB: 50 points.
	if res.GetPoints() != 50 {
		t.Errorf("points = %d, want 50", res.GetPoints())
	}
	if b := res.GetBreakdown(); len(b) != 1 || b[0].GetRule() != "base" || b[0].GetPoints() != 50 || b[0].GetDescription() == "" {
		t.Errorf("breakdown = %v, want one described base line of 50", b)
	}
	tx := res.GetTransaction()
	if tx.GetKind() != pb.TransactionKind_TRANSACTION_KIND_EARN || tx.GetPoints() != 50 || tx.GetId() == "" ||
		tx.GetPartnerId() != e.cafe.ID.String() || tx.GetMemberId() != m.GetId() || tx.GetOrderId() != "C-1" ||
		tx.GetAmount().GetMinor() != 100_000 || tx.GetAmount().GetCurrency() != "RUB" ||
		tx.GetBusinessDate() != today || !tx.GetCreatedAt().AsTime().Equal(start) {
		t.Errorf("transaction = %v", tx)
	}
	if !res.GetSpendableFrom().AsTime().Equal(start) {
		t.Errorf("spendable from %v, want now (the café has no return window)", res.GetSpendableFrom().AsTime())
	}
	if want := start.AddDate(0, 0, pointsTTL); !res.GetExpiresAt().AsTime().Equal(want) {
		t.Errorf("expires at %v, want %v", res.GetExpiresAt().AsTime(), want)
	}
	e.wantBalance(m, 50, 0, 0, 0)

	// At the fuel chain the points wait out its return window.
	fuel := e.accrue("fuel", m, 100_000) // 1 %: 10 points
	if fuel.GetPoints() != 10 || !fuel.GetSpendableFrom().AsTime().Equal(start.Add(fuelPending)) {
		t.Errorf("fuel accrual = %d points spendable from %v, want 10 from %v",
			fuel.GetPoints(), fuel.GetSpendableFrom().AsTime(), start.Add(fuelPending))
	}
	e.wantBalance(m, 50, 10, 0, 0)
}

func TestTheLargestAllowedPurchaseEarnsWithoutOverflow(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	res := e.accrue("cafe", m, 1_000_000_000_000)
	if res.GetPoints() != 500_000_000 {
		t.Fatalf("points = %d, want 5 %% of 10^10 RUB = 500000000", res.GetPoints())
	}
}

func TestAuthorizeHoldsPointsAndCaptureOfPartPostsItAndReleasesTheRest(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	e.accrue("cafe", m, 100_000) // 50
	auth, err := e.client.Authorize(e.as("cinema"), &pb.AuthorizeRequest{IdempotencyKey: e.key(), Member: byID(m), Points: 40, OrderId: "T-1"})
	if err != nil {
		t.Fatal(err)
	}
	hold := auth.GetHold()
	if hold.GetStatus() != pb.HoldStatus_HOLD_STATUS_ACTIVE || hold.GetPoints() != 40 || hold.GetCapturedPoints() != 0 ||
		hold.GetPartnerId() != e.cinema.ID.String() || hold.GetMemberId() != m.GetId() || hold.GetOrderId() != "T-1" ||
		!hold.GetCreatedAt().AsTime().Equal(start) || !hold.GetExpiresAt().AsTime().Equal(start.Add(15*time.Minute)) {
		t.Fatalf("hold = %v, want 40 active for the default 15 minutes", hold)
	}
	e.wantBalance(m, 10, 0, 40, 0)

	points := int64(25)
	cap, err := e.client.Capture(e.as("cinema"), &pb.CaptureRequest{IdempotencyKey: e.key(), HoldId: hold.GetId(), Points: &points})
	if err != nil {
		t.Fatal(err)
	}
	if tx := cap.GetTransaction(); tx.GetKind() != pb.TransactionKind_TRANSACTION_KIND_CAPTURE || tx.GetPoints() != -25 ||
		tx.GetHoldId() != hold.GetId() || tx.GetOrderId() != "T-1" || tx.GetPartnerId() != e.cinema.ID.String() || tx.GetBusinessDate() != today {
		t.Errorf("capture transaction = %v", tx)
	}
	if h := cap.GetHold(); h.GetStatus() != pb.HoldStatus_HOLD_STATUS_CAPTURED || h.GetCapturedPoints() != 25 || h.GetPoints() != 40 {
		t.Errorf("captured hold = %v", h)
	}
	e.wantBalance(m, 25, 0, 0, 0) // the 15 uncaptured points are back

	// A hold already captured can be neither captured again nor voided.
	_, err = e.client.Capture(e.as("cinema"), &pb.CaptureRequest{IdempotencyKey: e.key(), HoldId: hold.GetId()})
	wantStatus(t, err, codes.FailedPrecondition, "hold_id")
	_, err = e.client.Void(e.as("cinema"), &pb.VoidRequest{IdempotencyKey: e.key(), HoldId: hold.GetId()})
	wantStatus(t, err, codes.FailedPrecondition, "hold_id")
}

func TestCaptureWithoutPointsPostsTheWholeHold(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	e.accrue("cafe", m, 100_000) // 50
	hold := e.authorize("cinema", m, 30)
	cap, err := e.client.Capture(e.as("cinema"), &pb.CaptureRequest{IdempotencyKey: e.key(), HoldId: hold.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if cap.GetTransaction().GetPoints() != -30 || cap.GetHold().GetCapturedPoints() != 30 {
		t.Fatalf("capture = %v, want the whole 30", cap)
	}
	e.wantBalance(m, 20, 0, 0, 0)
}

func TestVoidReleasesTheWholeHold(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	e.accrue("cafe", m, 100_000) // 50
	hold := e.authorize("cinema", m, 20)
	e.wantBalance(m, 30, 0, 20, 0)
	e.clock.Advance(time.Minute)
	res, err := e.client.Void(e.as("cinema"), &pb.VoidRequest{IdempotencyKey: e.key(), HoldId: hold.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if h := res.GetHold(); h.GetStatus() != pb.HoldStatus_HOLD_STATUS_VOIDED || h.GetCapturedPoints() != 0 || h.GetId() != hold.GetId() {
		t.Fatalf("voided hold = %v", h)
	}
	e.wantBalance(m, 50, 0, 0, 0)
}

func TestAHoldStopsCountingWhenItsTTLPasses(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	e.accrue("cafe", m, 100_000) // 50
	auth, err := e.client.Authorize(e.as("cinema"), &pb.AuthorizeRequest{
		IdempotencyKey: e.key(), Member: byID(m), Points: 50, OrderId: "T-1", Ttl: durationpb.New(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	hold := auth.GetHold()
	if !hold.GetExpiresAt().AsTime().Equal(start.Add(time.Minute)) {
		t.Fatalf("hold expires at %v, want a minute from now", hold.GetExpiresAt().AsTime())
	}
	e.wantBalance(m, 0, 0, 50, 0)

	e.clock.Advance(59 * time.Second)
	e.wantBalance(m, 0, 0, 50, 0)
	e.clock.Advance(time.Second)
	e.wantBalance(m, 50, 0, 0, 0)
	before := e.written()
	_, err = e.client.Capture(e.as("cinema"), &pb.CaptureRequest{IdempotencyKey: e.key(), HoldId: hold.GetId()})
	wantStatus(t, err, codes.FailedPrecondition, "hold_id")
	e.wantNothingWritten(before)
	// Voiding an expired hold reports it expired.
	res, err := e.client.Void(e.as("cinema"), &pb.VoidRequest{IdempotencyKey: e.key(), HoldId: hold.GetId()})
	if err != nil || res.GetHold().GetStatus() != pb.HoldStatus_HOLD_STATUS_EXPIRED {
		t.Fatalf("void after the TTL = %v, %v; want the hold expired", res, err)
	}
	// The points are free to spend elsewhere.
	e.redeem("cafe", m, 50)
	e.wantBalance(m, 0, 0, 0, 0)
}

func TestRedeemSpendsPointsEarnedAtAnotherPartner(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	e.accrue("cafe", m, 100_000) // 50 issued by the café
	res, err := e.client.Redeem(e.as("cinema"), &pb.RedeemRequest{IdempotencyKey: e.key(), Member: byQR(m.GetQrToken()), Points: 20, OrderId: "T-9"})
	if err != nil {
		t.Fatal(err)
	}
	if tx := res.GetTransaction(); tx.GetKind() != pb.TransactionKind_TRANSACTION_KIND_BURN || tx.GetPoints() != -20 ||
		tx.GetPartnerId() != e.cinema.ID.String() || tx.GetMemberId() != m.GetId() || tx.GetOrderId() != "T-9" ||
		tx.GetBusinessDate() != today || tx.GetAmount() != nil {
		t.Fatalf("burn = %v", tx)
	}
	e.wantBalance(m, 30, 0, 0, 0)
}

func TestRefundOfPartOfAPurchaseClawsBackItsShareOfThePoints(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	earn := e.accrue("cafe", m, 100_000).GetTransaction() // 50
	res, err := e.client.Refund(e.as("cafe"), &pb.RefundRequest{
		IdempotencyKey: e.key(), TransactionId: earn.GetId(), Amount: &pb.RefundRequest_Purchase{Purchase: rub(40_000)},
	})
	if err != nil {
		t.Fatal(err)
	}
	tx := res.GetTransaction()
	if tx.GetKind() != pb.TransactionKind_TRANSACTION_KIND_EARN_REFUND || tx.GetPoints() != -20 ||
		tx.GetOriginalTransactionId() != earn.GetId() || tx.GetAmount().GetMinor() != 40_000 ||
		tx.GetOrderId() != earn.GetOrderId() || tx.GetPartnerId() != e.cafe.ID.String() || res.GetDebtPoints() != 0 {
		t.Fatalf("refund = %v", res)
	}
	e.wantBalance(m, 30, 0, 0, 0)
	// Refunding the rest takes back exactly what is left of the earn.
	if _, err := e.client.Refund(e.as("cafe"), &pb.RefundRequest{
		IdempotencyKey: e.key(), TransactionId: earn.GetId(), Amount: &pb.RefundRequest_Purchase{Purchase: rub(60_000)},
	}); err != nil {
		t.Fatal(err)
	}
	e.wantBalance(m, 0, 0, 0, 0)
}

func TestRefundOfABurnRestoresThePointsSpent(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	e.accrue("cafe", m, 100_000) // 50
	burn := e.redeem("cinema", m, 20)
	res, err := e.client.Refund(e.as("cinema"), &pb.RefundRequest{
		IdempotencyKey: e.key(), TransactionId: burn.GetId(), Amount: &pb.RefundRequest_Points{Points: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tx := res.GetTransaction(); tx.GetKind() != pb.TransactionKind_TRANSACTION_KIND_BURN_REFUND || tx.GetPoints() != 5 ||
		tx.GetOriginalTransactionId() != burn.GetId() || tx.GetPartnerId() != e.cinema.ID.String() {
		t.Fatalf("refund = %v", res)
	}
	e.wantBalance(m, 35, 0, 0, 0)
}

func TestRefundOfACapturedHoldRestoresThePointsSpent(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	e.accrue("cafe", m, 100_000) // 50
	hold := e.authorize("cinema", m, 20)
	cap, err := e.client.Capture(e.as("cinema"), &pb.CaptureRequest{IdempotencyKey: e.key(), HoldId: hold.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Refund(e.as("cinema"), &pb.RefundRequest{
		IdempotencyKey: e.key(), TransactionId: cap.GetTransaction().GetId(), Amount: &pb.RefundRequest_Points{Points: 20},
	}); err != nil {
		t.Fatal(err)
	}
	e.wantBalance(m, 50, 0, 0, 0)
}

func TestBalanceShowsAvailablePendingHeldAndDebt(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	earn := e.accrue("cafe", m, 100_000).GetTransaction() // 50 available
	e.accrue("fuel", m, 200_000)                          // 20 pending for 14 days
	e.redeem("cinema", m, 45)
	e.authorize("cinema", m, 5)
	e.wantBalance(m, 0, 20, 5, 0)

	// Refunding the whole café purchase claws back its 50 points: the 5 left
	// of its lot, then the 20 pending fuel points pay what they can of the
	// 45 already spent, and the member owes the other 25.
	res, err := e.client.Refund(e.as("cafe"), &pb.RefundRequest{
		IdempotencyKey: e.key(), TransactionId: earn.GetId(), Amount: &pb.RefundRequest_Purchase{Purchase: rub(100_000)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetTransaction().GetPoints() != -50 || res.GetDebtPoints() != 25 {
		t.Fatalf("refund = %d points, debt %d; want -50, debt 25", res.GetTransaction().GetPoints(), res.GetDebtPoints())
	}
	// The hold still counts, so available is below zero by hold and debt.
	e.wantBalance(m, -30, 0, 5, 25)
	// Later earnings pay the debt first.
	e.accrue("cinema", m, 1_000_000) // 3 %: 300 points
	e.wantBalance(m, 270, 0, 5, 0)
}

func TestHistoryIsNewestFirstAndPagedWithATokenForTheNextPage(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	var want []string // newest first
	for range 5 {
		want = append([]string{e.accrue("cafe", m, 10_000).GetTransaction().GetId()}, want...)
		e.clock.Advance(time.Minute)
	}
	want = append([]string{e.redeem("cinema", m, 3).GetId()}, want...)

	var got []*pb.Transaction
	token, pages := "", 0
	for {
		res, err := e.client.ListHistory(e.as("cafe"), &pb.ListHistoryRequest{Member: byID(m), PageSize: 4, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if n := len(res.GetTransactions()); n > 4 || n == 0 {
			t.Fatalf("page %d has %d transactions, want 1 to 4", pages, n)
		}
		got = append(got, res.GetTransactions()...)
		if token = res.GetNextPageToken(); token == "" {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if pages != 2 || len(got) != 6 {
		t.Fatalf("%d transactions in %d pages, want 6 in 2", len(got), pages)
	}
	for i, tx := range got {
		if tx.GetId() != want[i] {
			t.Fatalf("history[%d] = %s (%s), want %s", i, tx.GetId(), tx.GetKind(), want[i])
		}
		if i > 0 && tx.GetCreatedAt().AsTime().After(got[i-1].GetCreatedAt().AsTime()) {
			t.Fatalf("history not newest first at %d", i)
		}
	}
	if got[0].GetKind() != pb.TransactionKind_TRANSACTION_KIND_BURN || got[5].GetKind() != pb.TransactionKind_TRANSACTION_KIND_EARN ||
		got[5].GetAmount().GetMinor() != 10_000 || got[5].GetBusinessDate() != today {
		t.Fatalf("history = %v", got)
	}

	// Without page_size a page holds up to 50; the cinema, which did not
	// enroll the member, sees only its own transaction.
	res, err := e.client.ListHistory(e.as("cinema"), &pb.ListHistoryRequest{Member: byCard(m.GetCardNumber())})
	if err != nil {
		t.Fatal(err)
	}
	if txs := res.GetTransactions(); len(txs) != 1 || txs[0].GetId() != want[0] || res.GetNextPageToken() != "" {
		t.Fatalf("cinema sees %v (next %q), want only its burn", txs, res.GetNextPageToken())
	}
}

// The walkthrough a partner's developer follows: earn at the café, spend at
// the cinema, check the balance at both.
func TestEarnAtOnePartnerBurnAtAnotherLeavesTheExpectedBalance(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	earn := e.accrue("cafe", m, 250_000) // 2500 RUB at 5 %: 125 points
	if earn.GetPoints() != 125 {
		t.Fatalf("earned %d, want 125", earn.GetPoints())
	}
	hold := e.authorize("cinema", m, 100)
	points := int64(80)
	if _, err := e.client.Capture(e.as("cinema"), &pb.CaptureRequest{IdempotencyKey: e.key(), HoldId: hold.GetId(), Points: &points}); err != nil {
		t.Fatal(err)
	}
	e.accrue("cinema", m, 100_000) // 3 %: 30 points
	for _, code := range []string{"cafe", "cinema"} {
		res, err := e.client.GetBalance(e.as(code), &pb.GetBalanceRequest{Member: byCard(m.GetCardNumber())})
		if err != nil {
			t.Fatal(err)
		}
		if b := res.GetBalance(); b.GetAvailable() != 125-80+30 || b.GetPending() != 0 || b.GetHeld() != 0 || b.GetDebt() != 0 {
			t.Fatalf("balance at the %s = %v, want 75 available", code, b)
		}
		if !res.GetAsOf().AsTime().Equal(start) {
			t.Fatalf("as of %v, want now", res.GetAsOf().AsTime())
		}
	}
}

func TestBalanceTellsWhichPointsExpireNext(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	e.accrue("cafe", m, 100_000) // 50, expiring in a year
	e.clock.Advance(24 * time.Hour)
	e.accrue("cinema", m, 100_000) // 30, a day later
	b := e.balance(m)
	if b.GetExpiring_30D() != 0 || b.GetNextExpiryPoints() != 50 || !b.GetNextExpiryAt().AsTime().Equal(start.AddDate(0, 0, pointsTTL)) {
		t.Fatalf("balance = %v, want the café's 50 next to expire, none within 30 days", b)
	}
	e.clock.Advance(340 * 24 * time.Hour) // 24 days before the café's points expire, 25 before the cinema's
	if b := e.balance(m); b.GetExpiring_30D() != 80 || b.GetAvailable() != 80 {
		t.Fatalf("balance = %v, want all 80 expiring within 30 days", b)
	}
	e.clock.Advance(24 * 24 * time.Hour) // the café's points expire
	b = e.balance(m)
	if b.GetAvailable() != 30 || b.GetNextExpiryPoints() != 30 || !b.GetNextExpiryAt().AsTime().Equal(start.AddDate(0, 0, pointsTTL+1)) {
		t.Fatalf("balance = %v, want the cinema's 30 left, next to expire", b)
	}
}
