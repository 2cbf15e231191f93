package rpc

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// RulesAdmin is the versioned rule sets (rules.Store).
type RulesAdmin interface {
	Current(ctx context.Context) (rules.RuleSet, error)
	Get(ctx context.Context, version int64) (rules.RuleSet, error)
	List(ctx context.Context) ([]rules.Summary, error)
	Put(ctx context.Context, rs rules.RuleSet) (rules.RuleSet, error)
	Check(ctx context.Context, rs rules.RuleSet) (inForce int64, err error)
}

// adminService serves the operator's rules.
type adminService struct {
	coalitionv1.UnimplementedAdminServiceServer
	r   RulesAdmin
	log *slog.Logger
}

func (s *adminService) fail(ctx context.Context, method string, err error) error {
	return toStatus(ctx, s.log, method, err)
}

func (s *adminService) GetRules(ctx context.Context, req *coalitionv1.GetRulesRequest) (*coalitionv1.RuleSet, error) {
	var rs rules.RuleSet
	var err error
	if v := req.GetVersion(); v > 0 {
		rs, err = s.r.Get(ctx, v)
	} else {
		rs, err = s.r.Current(ctx)
	}
	if err != nil {
		return nil, s.fail(ctx, "GetRules", err)
	}
	return ruleSetPB(rs), nil
}

func (s *adminService) ListRuleSets(ctx context.Context, _ *coalitionv1.ListRuleSetsRequest) (*coalitionv1.ListRuleSetsResponse, error) {
	list, err := s.r.List(ctx)
	if err != nil {
		return nil, s.fail(ctx, "ListRuleSets", err)
	}
	out := &coalitionv1.ListRuleSetsResponse{}
	for _, v := range list {
		out.Versions = append(out.Versions, &coalitionv1.RuleSetSummary{
			Version: v.Version, EffectiveFrom: timestamppb.New(v.EffectiveFrom), CreatedAt: timestamppb.New(v.CreatedAt), Note: v.Note,
		})
	}
	return out, nil
}

func (s *adminService) PutRules(ctx context.Context, req *coalitionv1.PutRulesRequest) (*coalitionv1.RuleSet, error) {
	rs, err := s.r.Put(ctx, ruleSet(req.GetRuleSet()))
	if err != nil {
		return nil, s.fail(ctx, "PutRules", err)
	}
	return ruleSetPB(rs), nil
}

func (s *adminService) ValidateRules(ctx context.Context, req *coalitionv1.ValidateRulesRequest) (*coalitionv1.ValidateRulesResponse, error) {
	v, err := s.r.Check(ctx, ruleSet(req.GetRuleSet()))
	if err != nil {
		return nil, s.fail(ctx, "ValidateRules", err)
	}
	return &coalitionv1.ValidateRulesResponse{InForceVersion: v}, nil
}

func timeOf(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func stampOf(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// ruleSet converts a request's rule set to the domain's.
func ruleSet(m *coalitionv1.RuleSet) rules.RuleSet {
	rs := rules.RuleSet{EffectiveFrom: timeOf(m.GetEffectiveFrom()), Note: m.GetNote()}
	for _, p := range m.GetPartners() {
		pr := rules.PartnerRules{
			Partner: p.GetPartner(), MinPurchaseMinor: p.GetMinPurchaseMinor(),
			CapPerPurchase: coalition.Points(p.GetCapPerPurchase()), CapPerMemberDay: coalition.Points(p.GetCapPerMemberDay()),
			WelcomePoints: coalition.Points(p.GetWelcomePoints()),
		}
		if p.RateBp != nil {
			pr.RateBP = new(p.GetRateBp())
		}
		if pp := p.GetPointsPer(); pp != nil {
			pr.PointsPer = &rules.PointsPer{Points: coalition.Points(pp.GetPoints()), MoneyMinor: pp.GetMoneyMinor()}
		}
		for _, c := range p.GetCategories() {
			pr.Categories = append(pr.Categories, rules.CategoryRate{Category: c.GetCategory(), RateBP: c.GetRateBp()})
		}
		for _, st := range p.GetSteps() {
			pr.Steps = append(pr.Steps, rules.Step{FromMinor: st.GetFromMinor(), RateBP: st.GetRateBp()})
		}
		rs.Partners = append(rs.Partners, pr)
	}
	if t := m.GetTiers(); t != nil {
		rs.Tiers = &rules.Tiers{PeriodDays: int(t.GetPeriodDays())}
		for _, l := range t.GetLevels() {
			rs.Tiers.Levels = append(rs.Tiers.Levels, rules.Tier{Code: l.GetCode(), Name: l.GetName(),
				ThresholdMinor: l.GetThresholdMinor(), MultiplierBP: l.GetMultiplierBp()})
		}
	}
	for _, p := range m.GetPromotions() {
		rs.Promotions = append(rs.Promotions, rules.Promotion{
			Code: p.GetCode(), Name: p.GetName(), Starts: timeOf(p.GetStarts()), Ends: timeOf(p.GetEnds()),
			Weekdays: p.GetWeekdays(), FromHour: int(p.GetFromHour()), ToHour: int(p.GetToHour()),
			Partners: p.GetPartners(), Categories: p.GetCategories(), Tiers: p.GetTiers(), MinPurchaseMinor: p.GetMinPurchaseMinor(),
			MultiplierBP: p.GetMultiplierBp(), BonusPoints: coalition.Points(p.GetBonusPoints()), FundedBy: p.GetFundedBy(),
			UnlockAt: p.GetUnlockAt(), BudgetPoints: coalition.Points(p.GetBudgetPoints()),
		})
	}
	if r := m.GetReferral(); r != nil {
		rs.Referral = &rules.Referral{ReferrerPoints: coalition.Points(r.GetReferrerPoints()),
			NewMemberPoints: coalition.Points(r.GetNewMemberPoints()), MinPurchaseMinor: r.GetMinPurchaseMinor()}
	}
	return rs
}

func ruleSetPB(rs rules.RuleSet) *coalitionv1.RuleSet {
	out := &coalitionv1.RuleSet{Version: rs.Version, EffectiveFrom: stampOf(rs.EffectiveFrom), Note: rs.Note}
	for _, p := range rs.Partners {
		pr := &coalitionv1.PartnerRules{
			Partner: p.Partner, RateBp: p.RateBP, MinPurchaseMinor: p.MinPurchaseMinor, CapPerPurchase: int64(p.CapPerPurchase),
			CapPerMemberDay: int64(p.CapPerMemberDay), WelcomePoints: int64(p.WelcomePoints),
		}
		if pp := p.PointsPer; pp != nil {
			pr.PointsPer = &coalitionv1.PointsPer{Points: int64(pp.Points), MoneyMinor: pp.MoneyMinor}
		}
		for _, c := range p.Categories {
			pr.Categories = append(pr.Categories, &coalitionv1.CategoryRate{Category: c.Category, RateBp: c.RateBP})
		}
		for _, st := range p.Steps {
			pr.Steps = append(pr.Steps, &coalitionv1.Step{FromMinor: st.FromMinor, RateBp: st.RateBP})
		}
		out.Partners = append(out.Partners, pr)
	}
	if t := rs.Tiers; t != nil {
		out.Tiers = &coalitionv1.Tiers{PeriodDays: int32(t.PeriodDays)}
		for _, l := range t.Levels {
			out.Tiers.Levels = append(out.Tiers.Levels, &coalitionv1.Tier{Code: l.Code, Name: l.Name,
				ThresholdMinor: l.ThresholdMinor, MultiplierBp: l.MultiplierBP})
		}
	}
	for _, p := range rs.Promotions {
		out.Promotions = append(out.Promotions, &coalitionv1.Promotion{
			Code: p.Code, Name: p.Name, Starts: stampOf(p.Starts), Ends: stampOf(p.Ends),
			Weekdays: p.Weekdays, FromHour: int32(p.FromHour), ToHour: int32(p.ToHour),
			Partners: p.Partners, Categories: p.Categories, Tiers: p.Tiers, MinPurchaseMinor: p.MinPurchaseMinor,
			MultiplierBp: p.MultiplierBP, BonusPoints: int64(p.BonusPoints), FundedBy: p.FundedBy,
			UnlockAt: p.UnlockAt, BudgetPoints: int64(p.BudgetPoints),
		})
	}
	if r := rs.Referral; r != nil {
		out.Referral = &coalitionv1.Referral{ReferrerPoints: int64(r.ReferrerPoints), NewMemberPoints: int64(r.NewMemberPoints),
			MinPurchaseMinor: r.MinPurchaseMinor}
	}
	return out
}
