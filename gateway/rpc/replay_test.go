package rpc_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

func TestReplayingARequestWithItsIdempotencyKeyReturnsTheSameResponseAndWritesNothing(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	earn := e.accrue("cafe", m, 100_000).GetTransaction() // 50
	toCapture := e.authorize("cinema", m, 10)
	toVoid := e.authorize("cinema", m, 5)
	burn := e.redeem("cinema", m, 5)
	cafe, cinema := e.as("cafe"), e.as("cinema")
	three := int64(3)
	for _, tc := range []struct {
		name string
		call func() (proto.Message, error)
	}{
		{"enroll", func() (proto.Message, error) {
			return e.client.EnrollMember(cafe, &pb.EnrollMemberRequest{IdempotencyKey: "enroll", Phone: "+79161234567", ReferralCode: m.GetReferralCode()})
		}},
		{"accrue", func() (proto.Message, error) {
			return e.client.Accrue(cafe, &pb.AccrueRequest{IdempotencyKey: "accrue", Member: byCard(m.GetCardNumber()), Purchase: rub(10_000), OrderId: "C-2"})
		}},
		{"authorize", func() (proto.Message, error) {
			return e.client.Authorize(cinema, &pb.AuthorizeRequest{IdempotencyKey: "authorize", Member: byQR(m.GetQrToken()), Points: 5, OrderId: "T-3"})
		}},
		{"capture", func() (proto.Message, error) {
			return e.client.Capture(cinema, &pb.CaptureRequest{IdempotencyKey: "capture", HoldId: toCapture.GetId(), Points: &three})
		}},
		{"void", func() (proto.Message, error) {
			return e.client.Void(cinema, &pb.VoidRequest{IdempotencyKey: "void", HoldId: toVoid.GetId()})
		}},
		{"redeem", func() (proto.Message, error) {
			return e.client.Redeem(cinema, &pb.RedeemRequest{IdempotencyKey: "redeem", Member: byID(m), Points: 2, OrderId: "T-4"})
		}},
		{"refund of an earn", func() (proto.Message, error) {
			return e.client.Refund(cafe, &pb.RefundRequest{IdempotencyKey: "refund-earn", TransactionId: earn.GetId(),
				Amount: &pb.RefundRequest_Purchase{Purchase: rub(30_000)}})
		}},
		{"refund of a burn", func() (proto.Message, error) {
			return e.client.Refund(cinema, &pb.RefundRequest{IdempotencyKey: "refund-burn", TransactionId: burn.GetId(),
				Amount: &pb.RefundRequest_Points{Points: 2}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, err := tc.call()
			if err != nil {
				t.Fatal(err)
			}
			before := e.written()
			// A retry comes later, when the original would no longer be
			// computed the same (its time, and for a capture the hold's state).
			e.clock.Advance(time.Second)
			again, err := tc.call()
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
			if !proto.Equal(first, again) {
				t.Fatalf("replay differs:\nfirst  %v\nreplay %v", first, again)
			}
			e.wantNothingWritten(before)
		})
	}
}

func TestIdempotencyKeysAreScopedToThePartner(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	a, err := e.client.Accrue(e.as("cafe"), &pb.AccrueRequest{IdempotencyKey: "shared", Member: byID(m), Purchase: rub(100_000), OrderId: "1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.client.Accrue(e.as("cinema"), &pb.AccrueRequest{IdempotencyKey: "shared", Member: byID(m), Purchase: rub(100_000), OrderId: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if a.GetTransaction().GetId() == b.GetTransaction().GetId() || b.GetPoints() != 30 {
		t.Fatalf("the cinema's accrual replayed the café's: %v", b)
	}
	e.wantBalance(m, 80, 0, 0, 0)
}

func TestConcurrentRetriesOfOneRequestPostItOnce(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	cafe := e.as("cafe")
	req := &pb.AccrueRequest{IdempotencyKey: "retried", Member: byID(m), Purchase: rub(100_000), OrderId: "C-1"}
	const n = 8
	res := make([]*pb.AccrueResponse, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { res[i], errs[i] = e.client.Accrue(cafe, req) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("retry %d: %v", i, errs[i])
		}
		if !proto.Equal(res[i], res[0]) {
			t.Fatalf("retry %d answered %v, retry 0 %v", i, res[i], res[0])
		}
	}
	if w := e.written(); w.Transactions != 1 || w.Lots != 1 {
		t.Fatalf("written %+v, want one earn", w)
	}
	e.wantBalance(m, 50, 0, 0, 0)
	// And a different request under that key is still refused.
	_, err := e.client.Accrue(cafe, &pb.AccrueRequest{IdempotencyKey: "retried", Member: byID(m), Purchase: rub(100_001), OrderId: "C-1"})
	wantStatus(t, err, codes.AlreadyExists, "idempotency_key")
}

// Two tills racing with different keys must not both win, and the loser
// must be told why rather than get an internal error.
func TestConcurrentRequestsForOneOrderOrPhoneSucceedOnceAndTheRestConflict(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	cafe := e.as("cafe")
	race := func(t *testing.T, field string, call func(i int) error) {
		t.Helper()
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = call(i) })
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
				continue
			}
			wantStatus(t, err, codes.AlreadyExists, field)
		}
		if won != 1 {
			t.Fatalf("%d requests succeeded, want 1", won)
		}
	}
	t.Run("one order", func(t *testing.T) {
		race(t, "order_id", func(i int) error {
			return errOf(e.client.Accrue(cafe, &pb.AccrueRequest{IdempotencyKey: fmt.Sprint("order-", i), Member: byID(m), Purchase: rub(10_000), OrderId: "C-1"}))
		})
		e.wantBalance(m, 5, 0, 0, 0)
	})
	t.Run("one phone", func(t *testing.T) {
		race(t, "phone", func(i int) error {
			return errOf(e.client.EnrollMember(cafe, &pb.EnrollMemberRequest{IdempotencyKey: fmt.Sprint("phone-", i), Phone: "+79161234567"}))
		})
		if w := e.written(); w.Members != 2 {
			t.Fatalf("%d members, want 2", w.Members)
		}
	})
}

func TestConcurrentSpendsCannotTakeMoreThanTheMemberHas(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	e.accrue("cafe", m, 100_000) // 50
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		code := []string{"cafe", "cinema", "fuel"}[i%3]
		ctx := e.as(code)
		wg.Go(func() {
			if i%2 == 0 {
				errs[i] = errOf(e.client.Redeem(ctx, &pb.RedeemRequest{IdempotencyKey: fmt.Sprint("k", i), Member: byID(m), Points: 30, OrderId: "o"}))
			} else {
				errs[i] = errOf(e.client.Authorize(ctx, &pb.AuthorizeRequest{IdempotencyKey: fmt.Sprint("k", i), Member: byID(m), Points: 30, OrderId: "o"}))
			}
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		wantStatus(t, err, codes.FailedPrecondition, "points")
	}
	if won != 1 {
		t.Fatalf("%d spends of 30 out of 50 succeeded, want 1", won)
	}
	// Whichever won, a burn or a hold, 20 points are left to spend.
	if b := e.balance(m); b.GetAvailable() != 20 {
		t.Fatalf("balance = %v, want 20 available", b)
	}
}
