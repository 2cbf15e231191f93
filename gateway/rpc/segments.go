package rpc

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/segments"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// Segments is what the segment service and the member's birthday need
// (*segments.Segments).
type Segments interface {
	Define(ctx context.Context, scope segments.Scope, code, name string, d segments.Definition) (segments.Segment, error)
	List(ctx context.Context, scope *segments.Scope, partnerView bool) ([]segments.Segment, error)
	Retire(ctx context.Context, scope segments.Scope, code string) (segments.Segment, error)
	Preview(ctx context.Context, scope segments.Scope, d segments.Definition, partnerView bool) (segments.Segment, error)
	Grid(ctx context.Context, scope segments.Scope) (segments.Grid, error)
	SetBirthday(ctx context.Context, member coalition.MemberID, b segments.Birthday) error
}

// segmentMethods are the segment service's methods: a partner's systems
// and its admin and marketing staff call them on its own segments.
var segmentMethods = []string{
	coalitionv1.SegmentService_DefineSegment_FullMethodName,
	coalitionv1.SegmentService_ListSegments_FullMethodName,
	coalitionv1.SegmentService_RetireSegment_FullMethodName,
	coalitionv1.SegmentService_PreviewSegment_FullMethodName,
	coalitionv1.SegmentService_GetRfmGrid_FullMethodName,
}

type segmentService struct {
	coalitionv1.UnimplementedSegmentServiceServer
	s        Segments
	partners PartnerList
	log      *slog.Logger
}

// scope is the scope a request may act on: a partner's caller its own
// (naming another is PermissionDenied), the operator the coalition's or
// the partner it names. partnerView says the caller is a partner.
func (s *segmentService) scope(ctx context.Context, sc *coalitionv1.SegmentScope) (scope segments.Scope, partnerView bool, err error) {
	if s.s == nil {
		return segments.Scope{}, false, coalition.Errorf(coalition.FailedPrecondition, "", "this server computes no segments")
	}
	code := sc.GetPartner()
	var named *coalition.PartnerID
	if code != "" {
		ps, err := s.partners.List(ctx)
		if err != nil {
			return segments.Scope{}, false, err
		}
		for _, p := range ps {
			if p.Code == code && p.Kind != "operator" {
				id := p.ID
				named = &id
			}
		}
		if named == nil {
			return segments.Scope{}, false, coalition.Errorf(coalition.NotFound, "scope.partner", "no partner %q", code)
		}
	}
	p, _ := PrincipalFrom(ctx)
	switch {
	case p.Role == RolePartner && named != nil && *named != p.PartnerID:
		return segments.Scope{}, false, coalition.Errorf(coalition.PermissionDenied, "scope.partner", "a partner acts on its own segments only")
	case p.Role == RolePartner:
		return segments.PartnerScope(p.PartnerID), true, nil
	case named != nil:
		return segments.PartnerScope(*named), false, nil
	default:
		return segments.Coalition, false, nil
	}
}

func (s *segmentService) DefineSegment(ctx context.Context, req *coalitionv1.DefineSegmentRequest) (*coalitionv1.DefineSegmentResponse, error) {
	scope, partnerView, err := s.scope(ctx, req.GetScope())
	if err != nil {
		return nil, toStatus(ctx, s.log, "DefineSegment", err)
	}
	seg, err := s.s.Define(ctx, scope, req.GetCode(), req.GetName(), DefinitionFromPB(req.GetDefinition()))
	if err != nil {
		return nil, toStatus(ctx, s.log, "DefineSegment", err)
	}
	if partnerView {
		seg = segments.ForPartner(seg)
	}
	return &coalitionv1.DefineSegmentResponse{Segment: SegmentPB(seg)}, nil
}

func (s *segmentService) ListSegments(ctx context.Context, req *coalitionv1.ListSegmentsRequest) (*coalitionv1.ListSegmentsResponse, error) {
	scope, partnerView, err := s.scope(ctx, req.GetScope())
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListSegments", err)
	}
	which := &scope
	if req.GetAll() {
		if partnerView {
			return nil, toStatus(ctx, s.log, "ListSegments", coalition.Errorf(coalition.PermissionDenied, "all",
				"a partner lists its own segments only"))
		}
		which = nil
	}
	list, err := s.s.List(ctx, which, partnerView)
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListSegments", err)
	}
	out := &coalitionv1.ListSegmentsResponse{}
	for _, seg := range list {
		out.Segments = append(out.Segments, SegmentPB(seg))
	}
	return out, nil
}

func (s *segmentService) RetireSegment(ctx context.Context, req *coalitionv1.RetireSegmentRequest) (*coalitionv1.RetireSegmentResponse, error) {
	scope, partnerView, err := s.scope(ctx, req.GetScope())
	if err != nil {
		return nil, toStatus(ctx, s.log, "RetireSegment", err)
	}
	seg, err := s.s.Retire(ctx, scope, req.GetCode())
	if err != nil {
		return nil, toStatus(ctx, s.log, "RetireSegment", err)
	}
	if partnerView {
		seg = segments.ForPartner(seg)
	}
	return &coalitionv1.RetireSegmentResponse{Segment: SegmentPB(seg)}, nil
}

func (s *segmentService) PreviewSegment(ctx context.Context, req *coalitionv1.PreviewSegmentRequest) (*coalitionv1.PreviewSegmentResponse, error) {
	scope, partnerView, err := s.scope(ctx, req.GetScope())
	if err != nil {
		return nil, toStatus(ctx, s.log, "PreviewSegment", err)
	}
	seg, err := s.s.Preview(ctx, scope, DefinitionFromPB(req.GetDefinition()), partnerView)
	if err != nil {
		return nil, toStatus(ctx, s.log, "PreviewSegment", err)
	}
	return &coalitionv1.PreviewSegmentResponse{Size: seg.Size, SizeSuppressed: seg.Suppressed, AsOf: seg.AsOf.Format(time.DateOnly)}, nil
}

func (s *segmentService) GetRfmGrid(ctx context.Context, req *coalitionv1.GetRfmGridRequest) (*coalitionv1.GetRfmGridResponse, error) {
	scope, _, err := s.scope(ctx, req.GetScope())
	if err != nil {
		return nil, toStatus(ctx, s.log, "GetRfmGrid", err)
	}
	g, err := s.s.Grid(ctx, scope)
	if err != nil {
		return nil, toStatus(ctx, s.log, "GetRfmGrid", err)
	}
	return GridPB(g), nil
}

// GridPB is an RFM grid as the API returns it (and the command line
// prints it).
func GridPB(g segments.Grid) *coalitionv1.GetRfmGridResponse {
	out := &coalitionv1.GetRfmGridResponse{Scored: g.Scored, Monetary: g.Monetary[:]}
	if !g.AsOf.IsZero() {
		out.AsOf = g.AsOf.Format(time.DateOnly)
	}
	for r := range 5 {
		for f := range 5 {
			out.Cells = append(out.Cells, &coalitionv1.RfmCell{Recency: int32(r + 1), Frequency: int32(f + 1), Members: g.Cells[r][f]})
		}
	}
	return out
}

// DefinitionFromPB reads a definition off the wire; the domain checks it.
func DefinitionFromPB(d *coalitionv1.SegmentDefinition) segments.Definition {
	rng := func(r *coalitionv1.ScoreRange) *segments.ScoreRange {
		if r == nil {
			return nil
		}
		return &segments.ScoreRange{Min: int(r.GetMin()), Max: int(r.GetMax())}
	}
	return segments.Definition{
		Tiers: d.GetTiers(), Categories: d.GetCategories(), VisitedPartners: d.GetVisitedPartners(),
		MinPartnersVisited: int(d.GetMinPartnersVisited()), LapsedDays: int(d.GetLapsedDays()), BirthdayMonth: int(d.GetBirthdayMonth()),
		Recency: rng(d.GetRecency()), Frequency: rng(d.GetFrequency()), Monetary: rng(d.GetMonetary()),
	}
}

// SegmentPB is a segment as the API returns it.
func SegmentPB(seg segments.Segment) *coalitionv1.Segment {
	d := seg.Definition
	rng := func(r *segments.ScoreRange) *coalitionv1.ScoreRange {
		if r == nil {
			return nil
		}
		return &coalitionv1.ScoreRange{Min: int32(r.Min), Max: int32(r.Max)}
	}
	out := &coalitionv1.Segment{
		Id: seg.ID.String(), Partner: seg.PartnerCode, Code: seg.Code, Name: seg.Name, Retired: seg.Retired,
		Size: seg.Size, SizeSuppressed: seg.Suppressed, UpdatedAt: timestamppb.New(seg.UpdatedAt),
		Definition: &coalitionv1.SegmentDefinition{
			Tiers: d.Tiers, Categories: d.Categories, VisitedPartners: d.VisitedPartners,
			MinPartnersVisited: int32(d.MinPartnersVisited), LapsedDays: int32(d.LapsedDays), BirthdayMonth: int32(d.BirthdayMonth),
			Recency: rng(d.Recency), Frequency: rng(d.Frequency), Monetary: rng(d.Monetary),
		},
	}
	if !seg.AsOf.IsZero() {
		out.AsOf = seg.AsOf.Format(time.DateOnly)
	}
	return out
}

// SetMyBirthday records the calling member's birth date.
func (s *memberService) SetMyBirthday(ctx context.Context, req *coalitionv1.SetMyBirthdayRequest) (*coalitionv1.SetMyBirthdayResponse, error) {
	if s.segments == nil {
		return nil, s.fail(ctx, "SetMyBirthday", coalition.Errorf(coalition.FailedPrecondition, "", "this server keeps no birthdays"))
	}
	b := segments.Birthday{Month: int(req.GetBirthMonth()), Day: int(req.GetBirthDay()), Year: int(req.GetBirthYear())}
	if err := s.segments.SetBirthday(ctx, me(ctx), b); err != nil {
		return nil, s.fail(ctx, "SetMyBirthday", err)
	}
	return &coalitionv1.SetMyBirthdayResponse{BirthMonth: req.GetBirthMonth(), BirthDay: req.GetBirthDay(), BirthYear: req.GetBirthYear()}, nil
}
