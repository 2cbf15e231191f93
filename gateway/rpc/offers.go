package rpc

import (
	"context"
	"log/slog"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// Offers is what the offer service and the member's offers need
// (*offers.Store).
type Offers interface {
	Create(ctx context.Context, a offers.Actor, o offers.Offer) (offers.Offer, error)
	List(ctx context.Context, a offers.Actor) ([]offers.Offer, error)
	End(ctx context.Context, a offers.Actor, code string) (offers.Offer, error)
	IssueCoupons(ctx context.Context, a offers.Actor, in offers.Issue) ([]offers.Coupon, error)
	ListCoupons(ctx context.Context, a offers.Actor, offer string) ([]offers.Coupon, error)
	ForMember(ctx context.Context, member coalition.MemberID) ([]offers.MemberOffer, error)
}

// offerMethods are the offer service's methods: a partner's systems and
// its admin and marketing staff call them on its own offers.
var offerMethods = []string{
	coalitionv1.OfferService_CreateOffer_FullMethodName,
	coalitionv1.OfferService_ListOffers_FullMethodName,
	coalitionv1.OfferService_EndOffer_FullMethodName,
	coalitionv1.OfferService_IssueCoupons_FullMethodName,
	coalitionv1.OfferService_ListCoupons_FullMethodName,
}

type offerService struct {
	coalitionv1.UnimplementedOfferServiceServer
	o   Offers
	log *slog.Logger
}

// actor is who calls: the operator, or the partner the credential names
// (its systems or its staff), which acts on its own offers only.
func (s *offerService) actor(ctx context.Context) (offers.Actor, error) {
	if s.o == nil {
		return offers.Actor{}, coalition.Errorf(coalition.FailedPrecondition, "", "this server keeps no offers")
	}
	p, _ := PrincipalFrom(ctx)
	if p.Role == RolePartner {
		return offers.Actor{Partner: p.PartnerID}, nil
	}
	return offers.Actor{Operator: true}, nil
}

func (s *offerService) CreateOffer(ctx context.Context, req *coalitionv1.CreateOfferRequest) (*coalitionv1.CreateOfferResponse, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, "CreateOffer", err)
	}
	in := req.GetOffer()
	o, err := s.o.Create(ctx, a, offers.Offer{
		Code: in.GetCode(), Name: in.GetName(), Segment: in.GetSegment(), Members: in.GetMemberCards(),
		BonusPoints: coalition.Points(in.GetBonusPoints()), MultiplierBP: in.GetMultiplierBp(),
		Partners: in.GetPartners(), Categories: in.GetCategories(), MinPurchaseMinor: in.GetMinPurchaseMinor(),
		Starts: in.GetStarts().AsTime(), Ends: in.GetEnds().AsTime(), BudgetPoints: coalition.Points(in.GetBudgetPoints()),
		FundedBy: in.GetFundedBy(),
	})
	if err != nil {
		return nil, toStatus(ctx, s.log, "CreateOffer", offerField(err))
	}
	return &coalitionv1.CreateOfferResponse{Offer: offerPB(o)}, nil
}

// offerField names a refused field as the request does: the offer's
// fields sit under "offer", and its member list is member_cards.
func offerField(err error) error {
	e, ok := coalition.AsError(err)
	if !ok || e.Field == "" {
		return err
	}
	field := e.Field
	if field == "members" {
		field = "member_cards"
	}
	return &coalition.Error{Code: e.Code, Field: "offer." + field, Message: e.Message}
}

func (s *offerService) ListOffers(ctx context.Context, _ *coalitionv1.ListOffersRequest) (*coalitionv1.ListOffersResponse, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListOffers", err)
	}
	list, err := s.o.List(ctx, a)
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListOffers", err)
	}
	out := &coalitionv1.ListOffersResponse{}
	for _, o := range list {
		out.Offers = append(out.Offers, offerPB(o))
	}
	return out, nil
}

func (s *offerService) EndOffer(ctx context.Context, req *coalitionv1.EndOfferRequest) (*coalitionv1.EndOfferResponse, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, "EndOffer", err)
	}
	o, err := s.o.End(ctx, a, req.GetCode())
	if err != nil {
		return nil, toStatus(ctx, s.log, "EndOffer", err)
	}
	return &coalitionv1.EndOfferResponse{Offer: offerPB(o)}, nil
}

func (s *offerService) IssueCoupons(ctx context.Context, req *coalitionv1.IssueCouponsRequest) (*coalitionv1.IssueCouponsResponse, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, "IssueCoupons", err)
	}
	cs, err := s.o.IssueCoupons(ctx, a, offers.Issue{Offer: req.GetOfferCode(), RequestKey: req.GetRequestKey(),
		Count: int(req.GetCount()), MaxUses: int(req.GetMaxUses()), MemberCard: req.GetMemberCard()})
	if err != nil {
		if e, ok := coalition.AsError(err); ok && e.Field == "code" {
			err = &coalition.Error{Code: e.Code, Field: "offer_code", Message: e.Message}
		}
		return nil, toStatus(ctx, s.log, "IssueCoupons", err)
	}
	return &coalitionv1.IssueCouponsResponse{Coupons: couponsPB(cs)}, nil
}

func (s *offerService) ListCoupons(ctx context.Context, req *coalitionv1.ListCouponsRequest) (*coalitionv1.ListCouponsResponse, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListCoupons", err)
	}
	cs, err := s.o.ListCoupons(ctx, a, req.GetOfferCode())
	if err != nil {
		if e, ok := coalition.AsError(err); ok && e.Field == "code" {
			err = &coalition.Error{Code: e.Code, Field: "offer_code", Message: e.Message}
		}
		return nil, toStatus(ctx, s.log, "ListCoupons", err)
	}
	return &coalitionv1.ListCouponsResponse{Coupons: couponsPB(cs)}, nil
}

func offerPB(o offers.Offer) *coalitionv1.Offer {
	out := &coalitionv1.Offer{
		Code: o.Code, Name: o.Name, Segment: o.Segment, BonusPoints: int64(o.BonusPoints), MultiplierBp: o.MultiplierBP,
		Partners: o.Partners, Categories: o.Categories, MinPurchaseMinor: o.MinPurchaseMinor,
		Starts: timestamppb.New(o.Starts), Ends: timestamppb.New(o.Ends), BudgetPoints: int64(o.BudgetPoints),
		FundedBy: o.FundedBy, Owner: o.Owner, Target: o.Target, MemberCount: int64(o.MemberCount),
		CreatedAt: timestamppb.New(o.CreatedAt), BudgetUsed: int64(o.BudgetUsed),
		CouponsIssued: int64(o.CouponsIssued), CouponUses: o.CouponUses,
	}
	if o.EndedAt != nil {
		out.EndedAt = timestamppb.New(*o.EndedAt)
	}
	return out
}

func couponsPB(cs []offers.Coupon) []*coalitionv1.Coupon {
	out := make([]*coalitionv1.Coupon, 0, len(cs))
	for _, c := range cs {
		out = append(out, &coalitionv1.Coupon{Code: offers.Printed(c.Code), OfferCode: c.Offer, MemberCard: c.MemberCard,
			MaxUses: int32(c.MaxUses), Uses: int32(c.Uses), CreatedAt: timestamppb.New(c.CreatedAt)})
	}
	return out
}

// ListMyOffers is the member's personal offers running now, with the
// member's own coupons.
func (s *memberService) ListMyOffers(ctx context.Context, _ *coalitionv1.ListMyOffersRequest) (*coalitionv1.ListMyOffersResponse, error) {
	out := &coalitionv1.ListMyOffersResponse{}
	if s.offers == nil {
		return out, nil
	}
	list, err := s.offers.ForMember(ctx, me(ctx))
	if err != nil {
		return nil, s.fail(ctx, "ListMyOffers", err)
	}
	for _, o := range list {
		mo := &coalitionv1.MemberOffer{Code: o.Code, Name: o.Name, Gives: o.Gives, Partners: o.PartnerNames, Ends: timestamppb.New(o.Ends)}
		for _, c := range o.Coupons {
			mo.Coupons = append(mo.Coupons, offers.Printed(c))
		}
		out.Offers = append(out.Offers, mo)
	}
	return out, nil
}
