package rpc

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// Members is what the member service needs of the ledger: the member's own
// view of their account.
type Members interface {
	MemberCard(ctx context.Context, member coalition.MemberID) (ledger.Member, error)
	BalanceOf(ctx context.Context, ref ledger.MemberRef) (ledger.Balance, error)
	MemberHistory(ctx context.Context, member coalition.MemberID, pageSize int, pageToken string) ([]ledger.Transaction, string, error)
	ExpiringLots(ctx context.Context, member coalition.MemberID, within time.Duration) ([]ledger.OpenLot, error)
	Terms(ctx context.Context) (ledger.Settings, error)
	Now() time.Time
}

// PartnerList is the coalition's register of partners (package partners):
// the member service lists them, and every request of a partner reads its
// standing.
type PartnerList interface {
	List(ctx context.Context) ([]partners.Partner, error)
	ByID(ctx context.Context, id coalition.PartnerID) (partners.Partner, error)
	// Changes counts the status changes made through the register in
	// this process (partners.Register.Changes).
	Changes() uint64
}

// Tier is a member's standing in the coalition's tiers, in minor units of
// the coalition's currency.
type Tier struct {
	Code, Name           string
	QualifyingSpendMinor int64
	// The next tier up; empty at the top.
	NextCode, NextName string
	SpendToNextMinor   int64
}

// TierSource tells a member's tier; ok is false when the coalition has no
// tiers.
type TierSource interface {
	MemberTier(ctx context.Context, member coalition.MemberID) (t Tier, ok bool, err error)
}

// NoTiers is the TierSource of a coalition without tiers.
type NoTiers struct{}

func (NoTiers) MemberTier(context.Context, coalition.MemberID) (Tier, bool, error) {
	return Tier{}, false, nil
}

// memberService serves a member their own data. The member is the one the
// session names; no request field can name another.
type memberService struct {
	coalitionv1.UnimplementedMemberServiceServer
	m        Members
	partners PartnerList
	tiers    TierSource
	segments Segments // birthdays; nil: none kept
	offers   Offers   // nil: no personal offers
	log      *slog.Logger
}

func (s *memberService) fail(ctx context.Context, method string, err error) error {
	return toStatus(ctx, s.log, method, err)
}

// me is the calling member; the auth interceptor guarantees one for every
// MemberService method.
func me(ctx context.Context) coalition.MemberID {
	p, _ := PrincipalFrom(ctx)
	return p.MemberID
}

func balancePB(b ledger.Balance) *coalitionv1.Balance {
	out := &coalitionv1.Balance{
		MemberId: b.MemberID.String(), Available: int64(b.Available), Pending: int64(b.Pending), Held: int64(b.Held), Debt: int64(b.Debt),
		Expiring_30D: int64(b.Expiring30d), NextExpiryPoints: int64(b.NextExpiryPoints), Locked: int64(b.Locked),
	}
	if b.NextExpiryAt != nil {
		out.NextExpiryAt = timestamppb.New(*b.NextExpiryAt)
	}
	return out
}

func (s *memberService) GetMe(ctx context.Context, _ *coalitionv1.GetMeRequest) (*coalitionv1.GetMeResponse, error) {
	ref := ledger.MemberRef{ID: me(ctx)}
	m, err := s.m.MemberCard(ctx, ref.ID)
	if err != nil {
		return nil, s.fail(ctx, "GetMe", err)
	}
	b, err := s.m.BalanceOf(ctx, ref)
	if err != nil {
		return nil, s.fail(ctx, "GetMe", err)
	}
	terms, err := s.m.Terms(ctx)
	if err != nil {
		return nil, s.fail(ctx, "GetMe", err)
	}
	t, ok, err := s.tiers.MemberTier(ctx, m.ID)
	if err != nil {
		return nil, s.fail(ctx, "GetMe", err)
	}
	tier := &coalitionv1.MemberTier{HasTiers: ok}
	if ok {
		tier.Code, tier.Name, tier.NextCode, tier.NextName = t.Code, t.Name, t.NextCode, t.NextName
		tier.QualifyingSpend = &coalitionv1.Money{Minor: t.QualifyingSpendMinor, Currency: terms.Currency}
		tier.SpendToNext = &coalitionv1.Money{Minor: t.SpendToNextMinor, Currency: terms.Currency}
	}
	return &coalitionv1.GetMeResponse{Member: memberPB(m), Balance: balancePB(b), Tier: tier,
		Currency: terms.Currency, AsOf: timestamppb.New(b.AsOf)}, nil
}

// partnerNames maps partner ids to partners, for naming them to a member.
func (s *memberService) partnerNames(ctx context.Context) (map[coalition.PartnerID]partners.Partner, error) {
	ps, err := s.partners.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[coalition.PartnerID]partners.Partner, len(ps))
	for _, p := range ps {
		out[p.ID] = p
	}
	return out, nil
}

func (s *memberService) ListMyHistory(ctx context.Context, req *coalitionv1.ListMyHistoryRequest) (*coalitionv1.ListMyHistoryResponse, error) {
	txs, next, err := s.m.MemberHistory(ctx, me(ctx), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, s.fail(ctx, "ListMyHistory", err)
	}
	names, err := s.partnerNames(ctx)
	if err != nil {
		return nil, s.fail(ctx, "ListMyHistory", err)
	}
	out := &coalitionv1.ListMyHistoryResponse{NextPageToken: next}
	for _, t := range txs {
		p := names[t.PartnerID]
		out.Entries = append(out.Entries, &coalitionv1.HistoryEntry{Transaction: transactionPB(t), PartnerCode: p.Code, PartnerName: p.Name})
	}
	return out, nil
}

func (s *memberService) ListExpiringPoints(ctx context.Context, req *coalitionv1.ListExpiringPointsRequest) (*coalitionv1.ListExpiringPointsResponse, error) {
	days := int(req.GetDays())
	if days == 0 {
		days = 30
	}
	lots, err := s.m.ExpiringLots(ctx, me(ctx), time.Duration(days)*24*time.Hour)
	if err != nil {
		return nil, s.fail(ctx, "ListExpiringPoints", err)
	}
	names, err := s.partnerNames(ctx)
	if err != nil {
		return nil, s.fail(ctx, "ListExpiringPoints", err)
	}
	now := s.m.Now()
	out := &coalitionv1.ListExpiringPointsResponse{}
	for _, t := range lots {
		p := names[t.IssuerID]
		out.Lots = append(out.Lots, &coalitionv1.ExpiringLot{Points: int64(t.Remaining), ExpiresAt: timestamppb.New(t.ExpiresAt),
			IssuerCode: p.Code, IssuerName: p.Name, Pending: t.Pending(now)})
		out.TotalPoints += int64(t.Remaining)
	}
	return out, nil
}

func (s *memberService) ListSpendPartners(ctx context.Context, _ *coalitionv1.ListSpendPartnersRequest) (*coalitionv1.ListSpendPartnersResponse, error) {
	ps, err := s.partners.List(ctx)
	if err != nil {
		return nil, s.fail(ctx, "ListSpendPartners", err)
	}
	out := &coalitionv1.ListSpendPartnersResponse{}
	for _, p := range ps {
		// A suspended partner takes no points until it is reinstated.
		if p.Status == "active" {
			out.Partners = append(out.Partners, &coalitionv1.SpendPartner{Code: p.Code, Name: p.Name, Kind: p.Kind})
		}
	}
	return out, nil
}

// MemberLinks issues one-time member links (package sessions).
type MemberLinks interface {
	IssueMemberLink(ctx context.Context, partner coalition.PartnerID, member coalition.MemberID, home coalition.PartnerID) (string, time.Time, error)
}

func (s *partnerService) IssueMemberLink(ctx context.Context, req *coalitionv1.IssueMemberLinkRequest) (*coalitionv1.IssueMemberLinkResponse, error) {
	partner := caller(ctx)
	m, err := s.l.Lookup(ctx, partner, memberRef(req.GetMember()))
	if err != nil {
		return nil, s.fail(ctx, "IssueMemberLink", err)
	}
	code, until, err := s.links.IssueMemberLink(ctx, partner, m.ID, m.HomePartnerID)
	if err != nil {
		return nil, s.fail(ctx, "IssueMemberLink", err)
	}
	return &coalitionv1.IssueMemberLinkResponse{Url: strings.TrimRight(s.publicURL, "/") + "/m/" + code,
		ExpiresAt: timestamppb.New(until)}, nil
}
