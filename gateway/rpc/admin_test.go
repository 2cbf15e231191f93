package rpc_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

func (e *env) operator() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	e.t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Dev role=operator")
}

// An operator sets the rules over gRPC; bad rule sets are refused with the
// field and store nothing; a partner's receipt then explains every line.
func TestOperatorSetsRulesAndTheReceiptExplainsThem(t *testing.T) {
	e := newEnv(t)
	admin := pb.NewAdminServiceClient(e.conn)
	now := timestamppb.New(start)
	month := timestamppb.New(start.AddDate(0, 1, 0))
	good := &pb.RuleSet{
		Note: "spring",
		Tiers: &pb.Tiers{PeriodDays: 365, Levels: []*pb.Tier{
			{Code: "silver", Name: "Silver", ThresholdMinor: 100_000, MultiplierBp: 12_000},
		}},
		Promotions: []*pb.Promotion{{Code: "spring", Name: "Spring at the café", Starts: now, Ends: month, BonusPoints: 10,
			Partners: []string{"cafe"}, FundedBy: "operator"}},
	}
	for _, bad := range []struct {
		name  string
		edit  func(*pb.RuleSet)
		field string
	}{
		{"promotion ending before it starts", func(rs *pb.RuleSet) { rs.Promotions[0].Ends = timestamppb.New(start.Add(-time.Hour)) }, "promotions[0].ends"},
		{"negative tier threshold", func(rs *pb.RuleSet) { rs.Tiers.Levels[0].ThresholdMinor = -1 }, "tiers.levels[0].threshold_minor"},
		{"unknown partner", func(rs *pb.RuleSet) { rs.Promotions[0].Partners = []string{"bakery"} }, "promotions[0].partners[0]"},
	} {
		rs := proto.Clone(good).(*pb.RuleSet)
		bad.edit(rs)
		_, err := admin.PutRules(e.operator(), &pb.PutRulesRequest{RuleSet: rs})
		wantStatus(t, err, codes.InvalidArgument, bad.field)
	}
	if list, err := admin.ListRuleSets(e.operator(), &pb.ListRuleSetsRequest{}); err != nil || len(list.GetVersions()) != 0 {
		t.Fatalf("refused rule sets were stored: %v %v", list, err)
	}
	// A partner may not change the rules.
	_, err := admin.PutRules(e.as("cafe"), &pb.PutRulesRequest{RuleSet: good})
	wantStatus(t, err, codes.PermissionDenied, "")

	stored, err := admin.PutRules(e.operator(), &pb.PutRulesRequest{RuleSet: good})
	if err != nil || stored.GetVersion() != 1 {
		t.Fatalf("put: %v %v", stored, err)
	}
	got, err := admin.GetRules(e.operator(), &pb.GetRulesRequest{})
	if err != nil || got.GetVersion() != 1 || got.GetPromotions()[0].GetCode() != "spring" || got.GetNote() != "spring" {
		t.Fatalf("in force: %v %v", got, err)
	}

	m := e.enroll("cafe")
	res := e.accrue("cafe", m, 100_000) // 50 base, silver from this purchase: +10, spring: +10 from the operator
	if res.GetRuleVersion() != "rules/v1" || res.GetPoints() != 70 || !res.GetTierUpgraded() || res.GetTier() != "silver" {
		t.Fatalf("accrue: %v", res)
	}
	want := []struct {
		rule, ref, funder string
		points            int64
	}{{"base", "", "cafe", 50}, {"tier", "silver", "cafe", 10}, {"promotion", "spring", "operator", 10}}
	if len(res.GetBreakdown()) != len(want) {
		t.Fatalf("breakdown %v", res.GetBreakdown())
	}
	for i, w := range want {
		l := res.GetBreakdown()[i]
		if l.GetRule() != w.rule || l.GetRef() != w.ref || l.GetFunder() != w.funder || l.GetPoints() != w.points || l.GetDescription() == "" {
			t.Fatalf("line %d: %v, want %+v", i, l, w)
		}
	}
	if len(res.GetBonuses()) != 1 || res.GetBonuses()[0].GetKind() != pb.TransactionKind_TRANSACTION_KIND_BONUS || res.GetBonuses()[0].GetPoints() != 10 {
		t.Fatalf("bonuses %v", res.GetBonuses())
	}
	e.wantBalance(m, 70, 0, 0, 0)

	// The member sees the tier and what is left to the next one.
	tiers := proto.Clone(good).(*pb.RuleSet)
	tiers.Tiers.Levels = append(tiers.Tiers.Levels, &pb.Tier{Code: "gold", Name: "Gold", ThresholdMinor: 250_000, MultiplierBp: 15_000})
	if _, err := admin.PutRules(e.operator(), &pb.PutRulesRequest{RuleSet: tiers}); err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(e.anonymous(), "authorization", "Dev member="+m.GetId())
	me, err := e.member.GetMe(ctx, &pb.GetMeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tier := me.GetTier()
	if !tier.GetHasTiers() || tier.GetCode() != "silver" || tier.GetNextCode() != "gold" ||
		tier.GetQualifyingSpend().GetMinor() != 100_000 || tier.GetSpendToNext().GetMinor() != 150_000 {
		t.Fatalf("member's tier: %v", tier)
	}
}
