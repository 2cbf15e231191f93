package rpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/coalition-loyalty/coalition/coalition/card"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// refusal is a request that must fail with code, naming field in a
// google.rpc.BadRequest (when field is set), and write nothing.
type refusal struct {
	name  string
	call  func() error
	code  codes.Code
	field string
}

func (e *env) wantRefused(cases []refusal) {
	e.t.Helper()
	before := e.written()
	for _, tc := range cases {
		e.t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, tc.call(), tc.code, tc.field)
			if after := e.written(); after != before {
				t.Fatalf("wrote:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

func TestBadRequestsAreRefusedPreciselyAndWriteNothing(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	earn := e.accrue("cafe", m, 100_000).GetTransaction() // 50
	hold := e.authorize("cafe", m, 10)
	burn := e.redeem("cafe", m, 5)
	cafe := e.as("cafe")
	// Keys used before: one for an accrual, one for a redemption.
	if _, err := e.client.Accrue(cafe, &pb.AccrueRequest{IdempotencyKey: "accrued-before", Member: byID(m), Purchase: rub(20_000), OrderId: "order-0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Redeem(cafe, &pb.RedeemRequest{IdempotencyKey: "redeemed-before", Member: byID(m), Points: 1, OrderId: "order-0"}); err != nil {
		t.Fatal(err)
	}
	refund, err := e.client.Refund(cafe, &pb.RefundRequest{IdempotencyKey: e.key(), TransactionId: burn.GetId(), Amount: &pb.RefundRequest_Points{Points: 1}})
	if err != nil {
		t.Fatal(err)
	}
	// 50 + 10 earned, 10 held, 5 + 1 spent, 1 given back: 45 available, and
	// 4 of the burn can still be given back.
	e.wantBalance(m, 45, 0, 10, 0)
	wrongCheckDigit := m.GetCardNumber()[:15] + string('0'+(m.GetCardNumber()[15]-'0'+1)%10)
	var unissuedCard string // a valid number nobody holds
	for d := '0'; d <= '9'; d++ {
		if c := "770000000000000" + string(d); card.ValidNumber(c) && c != m.GetCardNumber() {
			unissuedCard = c
		}
	}

	// Each request is a good one with one thing wrong, under a key of its
	// own (a business refusal is recorded under its key, and the key then
	// answers with it); the last case checks that the good ones succeed.
	accrue := func(bad func(*pb.AccrueRequest)) func() error {
		return func() error {
			r := &pb.AccrueRequest{IdempotencyKey: e.key(), Member: byID(m), Purchase: rub(10_000), OrderId: "order-1"}
			bad(r)
			return errOf(e.client.Accrue(cafe, r))
		}
	}
	redeem := func(bad func(*pb.RedeemRequest)) func() error {
		return func() error {
			r := &pb.RedeemRequest{IdempotencyKey: e.key(), Member: byID(m), Points: 1, OrderId: "order-2"}
			bad(r)
			return errOf(e.client.Redeem(cafe, r))
		}
	}
	authorize := func(bad func(*pb.AuthorizeRequest)) func() error {
		return func() error {
			r := &pb.AuthorizeRequest{IdempotencyKey: e.key(), Member: byID(m), Points: 1, OrderId: "order-3"}
			bad(r)
			return errOf(e.client.Authorize(cafe, r))
		}
	}
	capture := func(bad func(*pb.CaptureRequest)) func() error {
		return func() error {
			points := int64(10)
			r := &pb.CaptureRequest{IdempotencyKey: e.key(), HoldId: hold.GetId(), Points: &points}
			bad(r)
			return errOf(e.client.Capture(cafe, r))
		}
	}
	refundEarn := func(bad func(*pb.RefundRequest)) func() error {
		return func() error {
			r := &pb.RefundRequest{IdempotencyKey: e.key(), TransactionId: earn.GetId(), Amount: &pb.RefundRequest_Purchase{Purchase: rub(100_000)}}
			bad(r)
			return errOf(e.client.Refund(cafe, r))
		}
	}
	refundBurn := func(bad func(*pb.RefundRequest)) func() error {
		return func() error {
			r := &pb.RefundRequest{IdempotencyKey: e.key(), TransactionId: burn.GetId(), Amount: &pb.RefundRequest_Points{Points: 4}}
			bad(r)
			return errOf(e.client.Refund(cafe, r))
		}
	}
	history := func(bad func(*pb.ListHistoryRequest)) func() error {
		return func() error {
			r := &pb.ListHistoryRequest{Member: byID(m)}
			bad(r)
			return errOf(e.client.ListHistory(cafe, r))
		}
	}
	enroll := func(bad func(*pb.EnrollMemberRequest)) func() error {
		return func() error {
			r := &pb.EnrollMemberRequest{IdempotencyKey: e.key()}
			bad(r)
			return errOf(e.client.EnrollMember(cafe, r))
		}
	}
	const tooMuch = 1_000_000_000_001 // 10^12 + 1
	cases := []refusal{
		// Amounts.
		{"zero purchase", accrue(func(r *pb.AccrueRequest) { r.Purchase.Minor = 0 }), codes.InvalidArgument, "purchase.minor"},
		{"negative purchase", accrue(func(r *pb.AccrueRequest) { r.Purchase.Minor = -100 }), codes.InvalidArgument, "purchase.minor"},
		{"purchase above 10^12", accrue(func(r *pb.AccrueRequest) { r.Purchase.Minor = tooMuch }), codes.InvalidArgument, "purchase.minor"},
		{"purchase near the int64 limit", accrue(func(r *pb.AccrueRequest) { r.Purchase.Minor = 1<<63 - 1 }), codes.InvalidArgument, "purchase.minor"},
		{"missing purchase", accrue(func(r *pb.AccrueRequest) { r.Purchase = nil }), codes.InvalidArgument, "purchase"},
		{"zero points redeemed", redeem(func(r *pb.RedeemRequest) { r.Points = 0 }), codes.InvalidArgument, "points"},
		{"negative points redeemed", redeem(func(r *pb.RedeemRequest) { r.Points = -1 }), codes.InvalidArgument, "points"},
		{"points redeemed above 10^12", redeem(func(r *pb.RedeemRequest) { r.Points = tooMuch }), codes.InvalidArgument, "points"},
		{"zero points held", authorize(func(r *pb.AuthorizeRequest) { r.Points = 0 }), codes.InvalidArgument, "points"},
		{"points held above 10^12", authorize(func(r *pb.AuthorizeRequest) { r.Points = tooMuch }), codes.InvalidArgument, "points"},
		{"zero points captured", capture(func(r *pb.CaptureRequest) { *r.Points = 0 }), codes.InvalidArgument, "points"},
		{"negative points captured", capture(func(r *pb.CaptureRequest) { *r.Points = -1 }), codes.InvalidArgument, "points"},
		{"zero points refunded", refundBurn(func(r *pb.RefundRequest) { r.Amount = &pb.RefundRequest_Points{Points: 0} }), codes.InvalidArgument, "points"},
		{"negative purchase refunded", refundEarn(func(r *pb.RefundRequest) { r.Amount = &pb.RefundRequest_Purchase{Purchase: rub(-1)} }), codes.InvalidArgument, "purchase.minor"},
		{"purchase refunded above 10^12", refundEarn(func(r *pb.RefundRequest) { r.Amount = &pb.RefundRequest_Purchase{Purchase: rub(tooMuch)} }), codes.InvalidArgument, "purchase.minor"},
		{"refund without an amount", refundEarn(func(r *pb.RefundRequest) { r.Amount = nil }), codes.InvalidArgument, "amount"},
		{"an earn refunded by points", refundEarn(func(r *pb.RefundRequest) { r.Amount = &pb.RefundRequest_Points{Points: 1} }), codes.InvalidArgument, "points"},
		{"a burn refunded by money", refundBurn(func(r *pb.RefundRequest) { r.Amount = &pb.RefundRequest_Purchase{Purchase: rub(1)} }), codes.InvalidArgument, "purchase"},

		// Currency.
		{"purchase in another currency", accrue(func(r *pb.AccrueRequest) { r.Purchase.Currency = "EUR" }), codes.InvalidArgument, "purchase.currency"},
		{"currency not an ISO code", accrue(func(r *pb.AccrueRequest) { r.Purchase.Currency = "rub" }), codes.InvalidArgument, "purchase.currency"},
		{"missing currency", accrue(func(r *pb.AccrueRequest) { r.Purchase.Currency = "" }), codes.InvalidArgument, "purchase.currency"},
		{"refund in another currency", refundEarn(func(r *pb.RefundRequest) {
			r.Amount = &pb.RefundRequest_Purchase{Purchase: &pb.Money{Minor: 1, Currency: "USD"}}
		}), codes.InvalidArgument, "purchase.currency"},

		// The member.
		{"missing member", accrue(func(r *pb.AccrueRequest) { r.Member = nil }), codes.InvalidArgument, "member"},
		{"member ref naming nobody", accrue(func(r *pb.AccrueRequest) { r.Member = &pb.MemberRef{} }), codes.InvalidArgument, "member.ref"},
		{"malformed card number", accrue(func(r *pb.AccrueRequest) { r.Member = byCard("1234 5678") }), codes.InvalidArgument, "member.card_number"},
		{"card number with a wrong check digit", redeem(func(r *pb.RedeemRequest) { r.Member = byCard(wrongCheckDigit) }), codes.InvalidArgument, "member.card_number"},
		{"malformed member id", accrue(func(r *pb.AccrueRequest) { r.Member = &pb.MemberRef{Ref: &pb.MemberRef_MemberId{MemberId: "42"}} }), codes.InvalidArgument, "member.member_id"},
		{"malformed phone", accrue(func(r *pb.AccrueRequest) { r.Member = byPhone("89161234567") }), codes.InvalidArgument, "member.phone"},
		{"malformed QR token", accrue(func(r *pb.AccrueRequest) { r.Member = byQR("short") }), codes.InvalidArgument, "member.qr_token"},
		{"unknown member id", accrue(func(r *pb.AccrueRequest) {
			r.Member = &pb.MemberRef{Ref: &pb.MemberRef_MemberId{MemberId: uuid.NewString()}}
		}), codes.NotFound, "member.member_id"},
		{"unissued card", accrue(func(r *pb.AccrueRequest) { r.Member = byCard(unissuedCard) }), codes.NotFound, "member.card_number"},
		{"unknown phone", redeem(func(r *pb.RedeemRequest) { r.Member = byPhone("+79160000000") }), codes.NotFound, "member.phone"},
		{"unknown QR token", authorize(func(r *pb.AuthorizeRequest) { r.Member = byQR(strings.Repeat("x", 32)) }), codes.NotFound, "member.qr_token"},
		{"unknown referral code", enroll(func(r *pb.EnrollMemberRequest) { r.ReferralCode = "ZZZZZZZZ" }), codes.NotFound, "referral_code"},
		{"malformed referral code", enroll(func(r *pb.EnrollMemberRequest) { r.ReferralCode = "abc" }), codes.InvalidArgument, "referral_code"},
		{"malformed phone at enrollment", enroll(func(r *pb.EnrollMemberRequest) { r.Phone = "12345" }), codes.InvalidArgument, "phone"},

		// Identifiers and keys.
		{"order id over 64 characters", accrue(func(r *pb.AccrueRequest) { r.OrderId = strings.Repeat("o", 65) }), codes.InvalidArgument, "order_id"},
		{"missing order id", redeem(func(r *pb.RedeemRequest) { r.OrderId = "" }), codes.InvalidArgument, "order_id"},
		{"idempotency key over 128 characters", accrue(func(r *pb.AccrueRequest) { r.IdempotencyKey = strings.Repeat("k", 129) }), codes.InvalidArgument, "idempotency_key"},
		{"missing idempotency key", redeem(func(r *pb.RedeemRequest) { r.IdempotencyKey = "" }), codes.InvalidArgument, "idempotency_key"},
		{"idempotency key with a space", authorize(func(r *pb.AuthorizeRequest) { r.IdempotencyKey = "a b" }), codes.InvalidArgument, "idempotency_key"},
		{"malformed hold id", capture(func(r *pb.CaptureRequest) { r.HoldId = "hold-1" }), codes.InvalidArgument, "hold_id"},
		{"unknown hold", capture(func(r *pb.CaptureRequest) { r.HoldId = uuid.NewString() }), codes.NotFound, "hold_id"},
		{"malformed transaction id", refundEarn(func(r *pb.RefundRequest) { r.TransactionId = "" }), codes.InvalidArgument, "transaction_id"},
		{"unknown transaction", refundEarn(func(r *pb.RefundRequest) { r.TransactionId = uuid.NewString() }), codes.NotFound, "transaction_id"},
		{"hold TTL over 7 days", authorize(func(r *pb.AuthorizeRequest) { r.Ttl = durationpb.New(8 * 24 * time.Hour) }), codes.InvalidArgument, "ttl"},
		{"negative hold TTL", authorize(func(r *pb.AuthorizeRequest) { r.Ttl = durationpb.New(-time.Minute) }), codes.InvalidArgument, "ttl"},
		{"page size over 200", history(func(r *pb.ListHistoryRequest) { r.PageSize = 201 }), codes.InvalidArgument, "page_size"},
		{"page token not issued by the service", history(func(r *pb.ListHistoryRequest) { r.PageToken = "not-a-token" }), codes.InvalidArgument, "page_token"},

		// The state forbids it.
		{"same idempotency key, different purchase", accrue(func(r *pb.AccrueRequest) { r.IdempotencyKey = "accrued-before" }), codes.AlreadyExists, "idempotency_key"},
		{"same idempotency key, different operation", accrue(func(r *pb.AccrueRequest) { r.IdempotencyKey = "redeemed-before" }), codes.AlreadyExists, "idempotency_key"},
		{"an order that already earned", accrue(func(r *pb.AccrueRequest) { r.OrderId = earn.GetOrderId() }), codes.AlreadyExists, "order_id"},
		{"capture above the hold", capture(func(r *pb.CaptureRequest) { *r.Points = 11 }), codes.FailedPrecondition, "points"},
		{"refund above the purchase", refundEarn(func(r *pb.RefundRequest) { r.Amount = &pb.RefundRequest_Purchase{Purchase: rub(100_001)} }), codes.FailedPrecondition, "purchase.minor"},
		{"refund above the points burned", refundBurn(func(r *pb.RefundRequest) { r.Amount = &pb.RefundRequest_Points{Points: 5} }), codes.FailedPrecondition, "points"},
		{"redeem more than available", redeem(func(r *pb.RedeemRequest) { r.Points = 46 }), codes.FailedPrecondition, "points"},
		{"hold more than available", authorize(func(r *pb.AuthorizeRequest) { r.Points = 46 }), codes.FailedPrecondition, "points"},
		{"refund of a refund", func() error {
			return errOf(e.client.Refund(cafe, &pb.RefundRequest{IdempotencyKey: "refund-3", TransactionId: refund.GetTransaction().GetId(), Amount: &pb.RefundRequest_Points{Points: 1}}))
		}, codes.FailedPrecondition, "transaction_id"},
	}
	e.wantRefused(cases)

	t.Run("the good requests behind the cases succeed", func(t *testing.T) {
		for _, good := range []struct {
			name string
			call func() error
		}{
			{"accrue", accrue(func(*pb.AccrueRequest) {})},
			{"redeem", redeem(func(*pb.RedeemRequest) {})},
			{"authorize", authorize(func(*pb.AuthorizeRequest) {})},
			{"capture", capture(func(*pb.CaptureRequest) {})},
			{"refund of the burn", refundBurn(func(*pb.RefundRequest) {})},
			{"refund of the earn", refundEarn(func(*pb.RefundRequest) {})},
			{"history", history(func(*pb.ListHistoryRequest) {})},
			{"enroll", enroll(func(*pb.EnrollMemberRequest) {})},
		} {
			if err := good.call(); err != nil {
				t.Errorf("%s: %v", good.name, err)
			}
		}
	})
}

func TestCallersWithoutValidCredentialsAreUnauthenticated(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	e.accrue("cafe", m, 100_000)
	with := func(auth ...string) context.Context {
		return metadata.AppendToOutgoingContext(e.anonymous(), auth...)
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
	}{
		{"no authorization metadata", e.anonymous()},
		{"unknown partner code", with("authorization", "Dev nosuchpartner")},
		{"another scheme", with("authorization", "Bearer cafe")},
		{"scheme without a code", with("authorization", "Dev")},
		{"two credentials", with("authorization", "Dev cafe", "authorization", "Dev cinema")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.written()
			wantStatus(t, errOf(e.client.Accrue(tc.ctx, &pb.AccrueRequest{
				IdempotencyKey: e.key(), Member: byID(m), Purchase: rub(100), OrderId: e.key()})), codes.Unauthenticated, "")
			wantStatus(t, errOf(e.client.EnrollMember(tc.ctx, &pb.EnrollMemberRequest{IdempotencyKey: e.key()})), codes.Unauthenticated, "")
			wantStatus(t, errOf(e.client.GetBalance(tc.ctx, &pb.GetBalanceRequest{Member: byID(m)})), codes.Unauthenticated, "")
			wantStatus(t, errOf(e.client.LookupMember(tc.ctx, &pb.LookupMemberRequest{Member: byID(m)})), codes.Unauthenticated, "")
			e.wantNothingWritten(before)
		})
	}
	// Credentials are checked before the request: a bad request from an
	// unknown caller learns nothing about what is wrong with it.
	wantStatus(t, errOf(e.client.Redeem(e.anonymous(), &pb.RedeemRequest{})), codes.Unauthenticated, "")
}

func TestAPartnerCannotTouchAnotherPartnersHoldsOrTransactions(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	earn := e.accrue("cafe", m, 100_000).GetTransaction()
	hold := e.authorize("cafe", m, 10)
	burn := e.redeem("cafe", m, 5)
	cinema := e.as("cinema")
	e.wantRefused([]refusal{
		{"capture of another's hold", func() error {
			return errOf(e.client.Capture(cinema, &pb.CaptureRequest{IdempotencyKey: e.key(), HoldId: hold.GetId()}))
		}, codes.NotFound, "hold_id"},
		{"void of another's hold", func() error {
			return errOf(e.client.Void(cinema, &pb.VoidRequest{IdempotencyKey: e.key(), HoldId: hold.GetId()}))
		}, codes.NotFound, "hold_id"},
		{"refund of another's earn", func() error {
			return errOf(e.client.Refund(cinema, &pb.RefundRequest{IdempotencyKey: e.key(), TransactionId: earn.GetId(),
				Amount: &pb.RefundRequest_Purchase{Purchase: rub(100)}}))
		}, codes.NotFound, "transaction_id"},
		{"refund of another's burn", func() error {
			return errOf(e.client.Refund(cinema, &pb.RefundRequest{IdempotencyKey: e.key(), TransactionId: burn.GetId(),
				Amount: &pb.RefundRequest_Points{Points: 1}}))
		}, codes.NotFound, "transaction_id"},
	})
	// The café still holds its hold.
	e.wantBalance(m, 35, 0, 10, 0)
	if _, err := e.client.Void(e.as("cafe"), &pb.VoidRequest{IdempotencyKey: e.key(), HoldId: hold.GetId()}); err != nil {
		t.Fatalf("the café's own void: %v", err)
	}
}

func TestASuspendedPartnerIsDenied(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	e.accrue("cafe", m, 100_000)
	burn := e.redeem("cinema", m, 5) // before the suspension, so the cinema's id is cached by the authenticator
	if err := e.partners.SetStatus(context.Background(), "cinema", "suspended"); err != nil {
		t.Fatal(err)
	}
	cinema := e.as("cinema")
	e.wantRefused([]refusal{
		{"enroll", func() error {
			return errOf(e.client.EnrollMember(cinema, &pb.EnrollMemberRequest{IdempotencyKey: e.key()}))
		}, codes.PermissionDenied, ""},
		{"lookup", func() error { return errOf(e.client.LookupMember(cinema, &pb.LookupMemberRequest{Member: byID(m)})) }, codes.PermissionDenied, ""},
		{"accrue", func() error {
			return errOf(e.client.Accrue(cinema, &pb.AccrueRequest{IdempotencyKey: e.key(), Member: byID(m), Purchase: rub(100), OrderId: e.key()}))
		}, codes.PermissionDenied, ""},
		{"authorize", func() error {
			return errOf(e.client.Authorize(cinema, &pb.AuthorizeRequest{IdempotencyKey: e.key(), Member: byID(m), Points: 1, OrderId: e.key()}))
		}, codes.PermissionDenied, ""},
		{"redeem", func() error {
			return errOf(e.client.Redeem(cinema, &pb.RedeemRequest{IdempotencyKey: e.key(), Member: byID(m), Points: 1, OrderId: e.key()}))
		}, codes.PermissionDenied, ""},
		{"refund", func() error {
			return errOf(e.client.Refund(cinema, &pb.RefundRequest{IdempotencyKey: e.key(), TransactionId: burn.GetId(), Amount: &pb.RefundRequest_Points{Points: 1}}))
		}, codes.PermissionDenied, ""},
		{"balance", func() error { return errOf(e.client.GetBalance(cinema, &pb.GetBalanceRequest{Member: byID(m)})) }, codes.PermissionDenied, ""},
		{"history", func() error { return errOf(e.client.ListHistory(cinema, &pb.ListHistoryRequest{Member: byID(m)})) }, codes.PermissionDenied, ""},
	})
	// Other partners trade on; the cinema again once reactivated.
	e.redeem("cafe", m, 1)
	if err := e.partners.SetStatus(context.Background(), "cinema", "active"); err != nil {
		t.Fatal(err)
	}
	e.redeem("cinema", m, 1)
}

// A partner suspended elsewhere (another replica, or the database itself)
// while this server's gate still holds its standing as active: the posting
// methods that rely on the ledger's own check refuse it from the next
// call on all the same, and write nothing.
func TestAPartnerSuspendedElsewhereIsRefusedByTheLedger(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	e.accrue("cafe", m, 100_000)
	burn := e.redeem("cinema", m, 5) // the gate now holds the cinema as active
	var holds []*pb.Hold
	for range 2 {
		h, err := e.client.Authorize(e.as("cinema"), &pb.AuthorizeRequest{IdempotencyKey: e.key(), Member: byID(m), Points: 2, OrderId: e.key()})
		if err != nil {
			t.Fatal(err)
		}
		holds = append(holds, h.GetHold())
	}
	if _, err := e.pool.Exec(context.Background(), `UPDATE partners SET status = 'suspended' WHERE code = 'cinema'`); err != nil {
		t.Fatal(err)
	}
	before := e.written()
	cinema := e.as("cinema")
	for name, call := range map[string]func() error{
		"accrue": func() error {
			return errOf(e.client.Accrue(cinema, &pb.AccrueRequest{IdempotencyKey: e.key(), Member: byID(m), Purchase: rub(100), OrderId: e.key()}))
		},
		"authorize": func() error {
			return errOf(e.client.Authorize(cinema, &pb.AuthorizeRequest{IdempotencyKey: e.key(), Member: byID(m), Points: 1, OrderId: e.key()}))
		},
		"redeem": func() error {
			return errOf(e.client.Redeem(cinema, &pb.RedeemRequest{IdempotencyKey: e.key(), Member: byID(m), Points: 1, OrderId: e.key()}))
		},
		"refund": func() error {
			return errOf(e.client.Refund(cinema, &pb.RefundRequest{IdempotencyKey: e.key(), TransactionId: burn.GetId(), Amount: &pb.RefundRequest_Points{Points: 1}}))
		},
		"balance": func() error { return errOf(e.client.GetBalance(cinema, &pb.GetBalanceRequest{Member: byID(m)})) },
		"capture": func() error {
			return errOf(e.client.Capture(cinema, &pb.CaptureRequest{IdempotencyKey: e.key(), HoldId: holds[0].GetId()}))
		},
		"void": func() error {
			return errOf(e.client.Void(cinema, &pb.VoidRequest{IdempotencyKey: e.key(), HoldId: holds[1].GetId()}))
		},
	} {
		err := call()
		if status.Code(err) != codes.PermissionDenied || status.Convert(err).Message() != "partner cinema is suspended" {
			t.Errorf("%s by a partner suspended elsewhere = %v, want PermissionDenied: partner cinema is suspended", name, err)
		}
	}
	e.wantNothingWritten(before)
}
