package rpc_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// TestACouponWithARedeemOverTheAPI: the café's coupon of 40 points,
// presented with a redemption of 20 of the member's 50, answers with the
// coupon's points and its bonus transaction, and the balance shows both;
// the used coupon is refused on coupon_code, as is one too long to be a
// code, and neither refusal writes anything.
func TestACouponWithARedeemOverTheAPI(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	cafe := e.as("cafe")
	offersAPI := pb.NewOfferServiceClient(e.conn)
	if _, err := offersAPI.CreateOffer(cafe, &pb.CreateOfferRequest{Offer: &pb.Offer{Code: "TREAT", Name: "Treat",
		BonusPoints: 40, Starts: timestamppb.New(start), Ends: timestamppb.New(start.AddDate(0, 1, 0)), BudgetPoints: 1_000}}); err != nil {
		t.Fatal(err)
	}
	issued, err := offersAPI.IssueCoupons(cafe, &pb.IssueCouponsRequest{OfferCode: "TREAT", RequestKey: "print-1", Count: 1, MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	code := issued.GetCoupons()[0].GetCode()
	earned, err := e.client.Accrue(cafe, &pb.AccrueRequest{IdempotencyKey: e.key(), Member: byID(m), Purchase: rub(100_000), OrderId: e.key()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.client.Redeem(cafe, &pb.RedeemRequest{IdempotencyKey: e.key(), Member: byID(m), Points: 20, OrderId: e.key(), CouponCode: code})
	if err != nil {
		t.Fatal(err)
	}
	if _, perr := uuid.Parse(res.GetCouponTransactionId()); res.GetCouponPoints() != 40 || perr != nil || res.GetTransaction().GetPoints() != -20 {
		t.Fatalf("redeemed %v, want a burn of 20 and the coupon's 40 points with their transaction", res)
	}
	b, err := e.client.GetBalance(cafe, &pb.GetBalanceRequest{Member: byID(m)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.GetBalance().GetAvailable(), earned.GetPoints()-20+40; got != want {
		t.Fatalf("available %d, want %d", got, want)
	}
	e.wantRefused([]refusal{
		{"the used coupon again", func() error {
			_, err := e.client.Redeem(cafe, &pb.RedeemRequest{IdempotencyKey: e.key(), Member: byID(m), Points: 5, OrderId: e.key(), CouponCode: code})
			return err
		}, codes.FailedPrecondition, "coupon_code"},
		{"a coupon code too long", func() error {
			_, err := e.client.Redeem(cafe, &pb.RedeemRequest{IdempotencyKey: e.key(), Member: byID(m), Points: 5, OrderId: e.key(),
				CouponCode: strings.Repeat("A", 41)})
			return err
		}, codes.InvalidArgument, "coupon_code"},
	})
}
