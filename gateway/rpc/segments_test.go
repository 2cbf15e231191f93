package rpc_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// TestAPartnerDefinesAndSeesOnlyItsOwnSegments: the café's segment is
// invisible to the cinema, which cannot name the café's scope; the
// operator sees both, and defines the coalition's and any partner's.
func TestAPartnerDefinesAndSeesOnlyItsOwnSegments(t *testing.T) {
	e := newEnv(t)
	seg := pb.NewSegmentServiceClient(e.conn)
	lapsed := &pb.SegmentDefinition{LapsedDays: 30}
	r, err := seg.DefineSegment(e.as("cafe"), &pb.DefineSegmentRequest{Code: "lapsed", Name: "Lapsed a month", Definition: lapsed})
	if err != nil {
		t.Fatal(err)
	}
	if s := r.GetSegment(); s.GetPartner() != "cafe" || s.GetCode() != "lapsed" || s.GetDefinition().GetLapsedDays() != 30 || s.GetAsOf() != "" {
		t.Fatalf("defined %v", s)
	}
	// Again, the same: the same segment.
	again, err := seg.DefineSegment(e.as("cafe"), &pb.DefineSegmentRequest{Code: "lapsed", Name: "Lapsed a month", Definition: lapsed})
	if err != nil || again.GetSegment().GetId() != r.GetSegment().GetId() {
		t.Fatalf("defined again: %v, %v", again, err)
	}
	list, err := seg.ListSegments(e.as("cinema"), &pb.ListSegmentsRequest{})
	if err != nil || len(list.GetSegments()) != 0 {
		t.Fatalf("the cinema lists %v, %v", list, err)
	}
	_, err = seg.ListSegments(e.as("cinema"), &pb.ListSegmentsRequest{Scope: &pb.SegmentScope{Partner: "cafe"}})
	wantStatus(t, err, codes.PermissionDenied, "scope.partner")
	_, err = seg.ListSegments(e.as("cinema"), &pb.ListSegmentsRequest{All: true})
	wantStatus(t, err, codes.PermissionDenied, "all")
	_, err = seg.RetireSegment(e.as("cinema"), &pb.RetireSegmentRequest{Code: "lapsed"})
	wantStatus(t, err, codes.NotFound, "code")
	_, err = seg.GetRfmGrid(e.as("cinema"), &pb.GetRfmGridRequest{Scope: &pb.SegmentScope{Partner: "cafe"}})
	wantStatus(t, err, codes.PermissionDenied, "scope.partner")

	operator := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Dev role=operator")
	if _, err := seg.DefineSegment(operator, &pb.DefineSegmentRequest{Code: "march", Name: "Born in March",
		Definition: &pb.SegmentDefinition{BirthdayMonth: 3}}); err != nil {
		t.Fatal(err)
	}
	if _, err := seg.DefineSegment(operator, &pb.DefineSegmentRequest{Scope: &pb.SegmentScope{Partner: "fuel"}, Code: "cinema-goers",
		Name: "Also at the cinema", Definition: &pb.SegmentDefinition{VisitedPartners: []string{"cinema"}}}); err != nil {
		t.Fatal(err)
	}
	all, err := seg.ListSegments(operator, &pb.ListSegmentsRequest{All: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range all.GetSegments() {
		got = append(got, s.GetPartner()+"/"+s.GetCode())
	}
	if want := []string{"/march", "cafe/lapsed", "fuel/cinema-goers"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("the operator lists %v, want %v", got, want)
	}
	coalitionOnly, err := seg.ListSegments(operator, &pb.ListSegmentsRequest{})
	if err != nil || len(coalitionOnly.GetSegments()) != 1 {
		t.Fatalf("the coalition's segments: %v, %v", coalitionOnly, err)
	}

	// Bad definitions name the field and write nothing.
	for _, c := range []struct {
		def   *pb.SegmentDefinition
		field string
	}{
		{&pb.SegmentDefinition{}, "definition"},
		{&pb.SegmentDefinition{VisitedPartners: []string{"bakery"}}, "definition.visited_partners[0]"},
		{&pb.SegmentDefinition{Recency: &pb.ScoreRange{Min: 3, Max: 9}}, "definition.recency.max"},
		{&pb.SegmentDefinition{BirthdayMonth: 13}, "definition.birthday_month"},
	} {
		_, err := seg.DefineSegment(e.as("cafe"), &pb.DefineSegmentRequest{Code: "bad", Name: "Bad", Definition: c.def})
		wantStatus(t, err, codes.InvalidArgument, c.field)
	}
	_, err = seg.DefineSegment(e.as("cafe"), &pb.DefineSegmentRequest{Code: "Bad!", Name: "Bad", Definition: lapsed})
	wantStatus(t, err, codes.InvalidArgument, "code")
	if list, _ := seg.ListSegments(e.as("cafe"), &pb.ListSegmentsRequest{}); len(list.GetSegments()) != 1 {
		t.Fatalf("refused definitions were stored: %v", list)
	}
	// Before any day is computed, a preview has nothing to count.
	_, err = seg.PreviewSegment(e.as("cafe"), &pb.PreviewSegmentRequest{Definition: lapsed})
	wantStatus(t, err, codes.FailedPrecondition, "")
	g, err := seg.GetRfmGrid(e.as("cafe"), &pb.GetRfmGridRequest{})
	if err != nil || len(g.GetCells()) != 25 || g.GetScored() != 0 || len(g.GetMonetary()) != 5 {
		t.Fatalf("grid %v, %v", g, err)
	}
	retired, err := seg.RetireSegment(e.as("cafe"), &pb.RetireSegmentRequest{Code: "lapsed"})
	if err != nil || !retired.GetSegment().GetRetired() {
		t.Fatalf("retired %v, %v", retired, err)
	}
}

// TestAMemberSetsTheirBirthday: a real date is kept, an impossible one
// refused naming the field.
func TestAMemberSetsTheirBirthday(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Dev member="+m.GetId())
	if r, err := e.member.SetMyBirthday(ctx, &pb.SetMyBirthdayRequest{BirthMonth: 2, BirthDay: 29}); err != nil || r.GetBirthDay() != 29 {
		t.Fatalf("29 February: %v, %v", r, err)
	}
	_, err := e.member.SetMyBirthday(ctx, &pb.SetMyBirthdayRequest{BirthMonth: 2, BirthDay: 29, BirthYear: 1999})
	wantStatus(t, err, codes.InvalidArgument, "birth_day")
	_, err = e.member.SetMyBirthday(ctx, &pb.SetMyBirthdayRequest{BirthMonth: 14, BirthDay: 1})
	wantStatus(t, err, codes.InvalidArgument, "birth_month")
}
