package rpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// TestOffersAndCouponsOverTheAPI: the café makes a coupon offer of 40
// points and issues two single-use coupons; a till presents one with an
// accrual and gets a "coupon" line naming the offer; presenting it again
// is refused on coupon_code, as is a code nobody issued and one mistyped;
// the cinema sees none of the café's offers; the café's list shows the
// points given and the coupon used; the member sees the offer of the
// coupon issued to them.
func TestOffersAndCouponsOverTheAPI(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	offersAPI := pb.NewOfferServiceClient(e.conn)
	cafe, cinema := e.as("cafe"), e.as("cinema")
	made, err := offersAPI.CreateOffer(cafe, &pb.CreateOfferRequest{Offer: &pb.Offer{Code: "WELCOME-BACK", Name: "Welcome back",
		BonusPoints: 40, Starts: timestamppb.New(start), Ends: timestamppb.New(start.AddDate(0, 1, 0)), BudgetPoints: 1_000}})
	if err != nil {
		t.Fatal(err)
	}
	if o := made.GetOffer(); o.GetFundedBy() != "cafe" || o.GetOwner() != "cafe" || o.GetTarget() != "coupons" {
		t.Fatalf("made %v, want the café's own coupon offer", o)
	}
	issued, err := offersAPI.IssueCoupons(cafe, &pb.IssueCouponsRequest{OfferCode: "WELCOME-BACK", RequestKey: "print-1", Count: 2, MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(issued.GetCoupons()) != 2 {
		t.Fatalf("issued %v", issued)
	}
	code := issued.GetCoupons()[0].GetCode()
	res, err := e.client.Accrue(cafe, &pb.AccrueRequest{IdempotencyKey: e.key(), Member: byID(m), Purchase: rub(100_000), OrderId: e.key(),
		CouponCode: code})
	if err != nil {
		t.Fatal(err)
	}
	var line *pb.EarnLine
	for _, l := range res.GetBreakdown() {
		if l.GetRule() == "coupon" {
			line = l
		}
	}
	if line == nil || line.GetRef() != "WELCOME-BACK" || line.GetPoints() != 40 || line.GetFunder() != "cafe" || res.GetPoints() != 90 {
		t.Fatalf("breakdown %v (points %d), want 50 base and the coupon's 40 of the café", res.GetBreakdown(), res.GetPoints())
	}
	mistyped := []byte(code)
	mistyped[0] = map[bool]byte{true: '2', false: '3'}[mistyped[0] != '2']
	e.wantRefused([]refusal{
		{"the used coupon again", func() error {
			_, err := e.client.Accrue(cafe, &pb.AccrueRequest{IdempotencyKey: e.key(), Member: byID(m), Purchase: rub(100_000), OrderId: e.key(), CouponCode: code})
			return err
		}, codes.FailedPrecondition, "coupon_code"},
		{"a mistyped coupon", func() error {
			_, err := e.client.Accrue(cafe, &pb.AccrueRequest{IdempotencyKey: e.key(), Member: byID(m), Purchase: rub(100_000), OrderId: e.key(),
				CouponCode: string(mistyped)})
			return err
		}, codes.InvalidArgument, "coupon_code"},
		{"the other coupon at the cinema", func() error {
			_, err := e.client.Accrue(cinema, &pb.AccrueRequest{IdempotencyKey: e.key(), Member: byID(m), Purchase: rub(100_000), OrderId: e.key(),
				CouponCode: issued.GetCoupons()[1].GetCode()})
			return err
		}, codes.FailedPrecondition, "coupon_code"},
		{"the cinema ends the café's offer", func() error {
			_, err := offersAPI.EndOffer(cinema, &pb.EndOfferRequest{Code: "WELCOME-BACK"})
			return err
		}, codes.NotFound, "code"},
		{"the cinema funds an offer by the café", func() error {
			_, err := offersAPI.CreateOffer(cinema, &pb.CreateOfferRequest{Offer: &pb.Offer{Code: "X", Name: "X", BonusPoints: 1,
				Starts: timestamppb.New(start), Ends: timestamppb.New(start.Add(time.Hour)), BudgetPoints: 1, FundedBy: "cafe"}})
			return err
		}, codes.PermissionDenied, "offer.funded_by"},
		{"the cinema issues the café's coupons", func() error {
			_, err := offersAPI.IssueCoupons(cinema, &pb.IssueCouponsRequest{OfferCode: "WELCOME-BACK", RequestKey: "k", Count: 1, MaxUses: 1})
			return err
		}, codes.NotFound, "offer_code"},
	})
	if list, err := offersAPI.ListOffers(cinema, &pb.ListOffersRequest{}); err != nil || len(list.GetOffers()) != 0 {
		t.Fatalf("the cinema lists %v (%v)", list, err)
	}
	list, err := offersAPI.ListOffers(cafe, &pb.ListOffersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetOffers()) != 1 || list.GetOffers()[0].GetBudgetUsed() != 40 || list.GetOffers()[0].GetCouponUses() != 1 ||
		list.GetOffers()[0].GetCouponsIssued() != 2 {
		t.Fatalf("the café lists %v, want 40 points used, 2 coupons issued, 1 used", list)
	}

	// A coupon issued to the member shows on the member's offers.
	mine, err := offersAPI.IssueCoupons(cafe, &pb.IssueCouponsRequest{OfferCode: "WELCOME-BACK", RequestKey: "for-m", Count: 1, MaxUses: 1,
		MemberCard: m.GetCardNumber()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Dev member="+m.GetId())
	my, err := e.member.ListMyOffers(ctx, &pb.ListMyOffersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(my.GetOffers()) != 1 || my.GetOffers()[0].GetCode() != "WELCOME-BACK" || len(my.GetOffers()[0].GetCoupons()) != 1 ||
		my.GetOffers()[0].GetCoupons()[0] != mine.GetCoupons()[0].GetCode() || !strings.Contains(my.GetOffers()[0].GetGives(), "40") {
		t.Fatalf("the member's offers: %v", my)
	}
}
