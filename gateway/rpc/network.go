package rpc

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/coalition-loyalty/coalition/coalition/network"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// Network is what the network service needs (package network).
type Network interface {
	Standings(ctx context.Context) ([]network.Standing, error)
	Figures(ctx context.Context, days int) (network.Figures, error)
}

type networkService struct {
	coalitionv1.UnimplementedNetworkServiceServer
	n   Network
	log *slog.Logger
}

func (s *networkService) ListPartnerStandings(ctx context.Context, _ *coalitionv1.ListPartnerStandingsRequest) (*coalitionv1.ListPartnerStandingsResponse, error) {
	st, err := s.n.Standings(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListPartnerStandings", err)
	}
	out := &coalitionv1.ListPartnerStandingsResponse{}
	for _, p := range st {
		ps := &coalitionv1.PartnerStanding{Id: p.ID.String(), Code: p.Code, Name: p.Name, Kind: p.Kind, Status: p.Status,
			EarnRateBp: p.EarnRateBP, ReturnWindow: durationpb.New(p.ReturnWindow), PointsTtlDays: int32(p.PointsTTLDays),
			OutstandingPoints: int64(p.Outstanding), LiabilityLimitPoints: optional(p.LiabilityLimit),
			ValidCertificates: int32(p.ValidCertificates)}
		if p.CertificateNotAfter != nil {
			ps.CertificateNotAfter = timestamppb.New(*p.CertificateNotAfter)
		}
		out.Partners = append(out.Partners, ps)
	}
	return out, nil
}

func (s *networkService) GetNetworkFigures(ctx context.Context, req *coalitionv1.GetNetworkFiguresRequest) (*coalitionv1.GetNetworkFiguresResponse, error) {
	days := int(req.GetDays())
	if days == 0 {
		days = 30
	}
	f, err := s.n.Figures(ctx, days)
	if err != nil {
		return nil, toStatus(ctx, s.log, "GetNetworkFigures", err)
	}
	return &coalitionv1.GetNetworkFiguresResponse{Figures: &coalitionv1.NetworkFigures{
		FromDate: f.From.Format(time.DateOnly), ToDate: f.To.Format(time.DateOnly),
		MembersTotal: f.MembersTotal, ActiveMembers: f.ActiveMembers, PurchasingMembers: f.PurchasingMembers,
		RepeatMembers: f.RepeatMembers, RepeatPurchaseRateBp: f.RepeatRateBP, Purchases: f.Purchases,
		AverageCheck: &coalitionv1.Money{Minor: f.AverageCheck.Minor, Currency: f.AverageCheck.Currency},
		PointsIssued: int64(f.PointsIssued), PointsBurned: int64(f.PointsBurned), PointsBurnedElsewhere: int64(f.BurnedElsewhere),
		CrossPartnerBurnBp: f.CrossBurnBP, PointsExpired: int64(f.PointsExpired),
	}}, nil
}
