package rpc

import (
	"context"
	"log/slog"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
	"github.com/coalition-loyalty/coalition/settlement/analytics"
)

// Analytics is what the analytics service needs (package analytics).
type Analytics interface {
	Network(ctx context.Context, from, to time.Time) (analytics.Report, error)
	Partner(ctx context.Context, partner coalition.PartnerID, from, to time.Time) (analytics.Report, error)
}

type analyticsService struct {
	coalitionv1.UnimplementedAnalyticsServiceServer
	a        Analytics
	partners PartnerList
	log      *slog.Logger
}

func (s *analyticsService) GetAnalytics(ctx context.Context, req *coalitionv1.GetAnalyticsRequest) (*coalitionv1.GetAnalyticsResponse, error) {
	r, err := s.get(ctx, req)
	if err != nil {
		return nil, toStatus(ctx, s.log, "GetAnalytics", err)
	}
	return r, nil
}

func (s *analyticsService) get(ctx context.Context, req *coalitionv1.GetAnalyticsRequest) (*coalitionv1.GetAnalyticsResponse, error) {
	if s.a == nil {
		return nil, coalition.Errorf(coalition.FailedPrecondition, "", "this server computes no analytics")
	}
	from, err := time.Parse(time.DateOnly, req.GetFrom())
	if err != nil {
		return nil, coalition.Errorf(coalition.Invalid, "from", "%q is no date (YYYY-MM-DD)", req.GetFrom())
	}
	to, err := time.Parse(time.DateOnly, req.GetTo())
	if err != nil {
		return nil, coalition.Errorf(coalition.Invalid, "to", "%q is no date (YYYY-MM-DD)", req.GetTo())
	}
	ps, err := s.partners.List(ctx)
	if err != nil {
		return nil, err
	}
	codes := map[coalition.PartnerID]string{}
	var asked *coalition.PartnerID
	for _, p := range ps {
		codes[p.ID] = p.Code
		if p.Code == req.GetPartner() && p.Kind != "operator" {
			id := p.ID
			asked = &id
		}
	}
	if req.GetPartner() != "" && asked == nil {
		return nil, coalition.Errorf(coalition.NotFound, "partner", "no partner %q", req.GetPartner())
	}
	// A partner (its systems or its staff) sees its own figures only; the
	// operator the network's or any partner's.
	p, _ := PrincipalFrom(ctx)
	var r analytics.Report
	switch {
	case p.Role == RolePartner && asked != nil && *asked != p.PartnerID:
		return nil, coalition.Errorf(coalition.PermissionDenied, "partner", "a partner sees its own figures only")
	case p.Role == RolePartner:
		r, err = s.a.Partner(ctx, p.PartnerID, from, to)
	case asked != nil:
		r, err = s.a.Partner(ctx, *asked, from, to)
	default:
		r, err = s.a.Network(ctx, from, to)
	}
	if err != nil {
		return nil, err
	}
	return AnalyticsResponse(r, codes), nil
}

// AnalyticsResponse is a report as the API returns it, partners named by
// their codes (codes; an id without one is written as is). The command
// line and the web pages read the same.
func AnalyticsResponse(r analytics.Report, codes map[coalition.PartnerID]string) *coalitionv1.GetAnalyticsResponse {
	code := func(id coalition.PartnerID) string {
		if c, ok := codes[id]; ok {
			return c
		}
		return id.String()
	}
	out := &coalitionv1.GetAnalyticsResponse{Currency: r.Current.Spent.Currency,
		Current: analyticsFigures(r.Current, code), Previous: analyticsFigures(r.Previous, code)}
	if r.Partner != (coalition.PartnerID{}) {
		out.Partner = code(r.Partner)
	}
	if !r.RolledUpTo.IsZero() {
		out.RolledUpTo = r.RolledUpTo.Format(time.DateOnly)
	}
	return out
}

func analyticsFigures(f analytics.Figures, code func(coalition.PartnerID) string) *coalitionv1.AnalyticsFigures {
	out := &coalitionv1.AnalyticsFigures{
		From: f.From.Format(time.DateOnly), To: f.To.Format(time.DateOnly),
		AcquiredTotal: f.AcquiredTotal, ActiveMembers: f.ActiveMembers, RepeatMembers: f.RepeatMembers,
		RepeatShareBp: f.RepeatShareBP, Purchases: f.Purchases, SpentMinor: f.Spent.Minor, FrequencyCenti: f.FrequencyCenti,
		AverageCheckMinor: f.AverageCheck.Minor, SpendPerMemberMinor: f.SpendPerMember.Minor,
		Refunds: f.Refunds, RefundedMinor: f.Refunded.Minor,
		PointsIssued: int64(f.PointsIssued), PointsClawedBack: int64(f.PointsClawedBack), PointsBurned: int64(f.PointsBurned),
		PointsBurnedElsewhere: int64(f.PointsBurnedElsewhere), PointsExpired: int64(f.PointsExpired),
	}
	for _, a := range f.Acquired {
		out.Acquired = append(out.Acquired, &coalitionv1.Acquisition{Partner: code(a.Partner), Channel: a.Channel, Location: a.Location,
			Members: a.Members})
	}
	for _, c := range f.Shoppers {
		out.CrossShopping = append(out.CrossShopping, &coalitionv1.CrossShopping{Home: code(c.Home), At: code(c.At), Members: c.Members,
			Suppressed: c.Suppressed})
	}
	for _, fl := range f.Flows {
		out.Flows = append(out.Flows, &coalitionv1.PointFlow{Issuer: code(fl.Issuer), Redeemer: code(fl.Redeemer), Points: int64(fl.Points)})
	}
	for _, c := range f.Cohorts {
		out.Cohorts = append(out.Cohorts, &coalitionv1.Cohort{EnrolmentMonth: c.EnrolmentMonth.Format(time.DateOnly),
			ActivityMonth: c.ActivityMonth.Format(time.DateOnly), Enrolled: c.Enrolled, Active: c.Active, RetentionBp: c.RetentionBP})
	}
	for _, p := range f.Promotions {
		out.Promotions = append(out.Promotions, &coalitionv1.PromotionResult{Rule: p.Rule, Code: p.Ref,
			Partner: code(p.Partner), Funder: code(p.Funder), Members: p.Members, Purchases: p.Purchases, Points: int64(p.Points),
			ParticipantDays: p.ParticipantDays, SpendPerParticipantDayMinor: p.SpendPerParticipantDay.Minor,
			ComparableDays: p.ComparableDays, SpendPerComparableDayMinor: p.SpendPerComparableDay.Minor,
			BudgetUsed: int64(p.BudgetUsed), HasBudget: p.HasBudget, Suppressed: p.Suppressed})
	}
	return out
}
