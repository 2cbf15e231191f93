package rpc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/coalition-loyalty/coalition/coalition/sessions"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// memberSession opens a member link issued by partner and returns a
// context carrying the member's session, as the web pages send it.
func (e *env) memberSession(partner string, m *pb.Member) context.Context {
	e.t.Helper()
	res, err := e.client.IssueMemberLink(e.as(partner), &pb.IssueMemberLinkRequest{Member: byCard(m.GetCardNumber())})
	if err != nil {
		e.t.Fatal(err)
	}
	code, ok := strings.CutPrefix(res.GetUrl(), "https://coalition.example/m/")
	if !ok || !res.GetExpiresAt().AsTime().Equal(e.clock.Now().Add(15*time.Minute)) {
		e.t.Fatalf("link %q, expires %v", res.GetUrl(), res.GetExpiresAt().AsTime())
	}
	_, tok, err := e.sessions.OpenMemberLink(context.Background(), code)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, _, err := e.sessions.OpenMemberLink(context.Background(), code); !errors.Is(err, sessions.ErrBadLink) {
		e.t.Fatalf("a link opened twice: %v", err)
	}
	return metadata.AppendToOutgoingContext(e.anonymous(), "authorization", "Bearer "+tok)
}

func TestAMemberReadsTheirOwnAccountAndNoOneElses(t *testing.T) {
	e := newEnv(t)
	m, other := e.enroll("cafe"), e.enroll("cinema")
	e.accrue("cafe", m, 100000) // 50 points
	e.clock.Advance(time.Minute)
	e.accrue("fuel", m, 100000) // 10 points, pending for 14 days
	e.clock.Advance(time.Minute)
	e.accrue("cinema", other, 1000) // another member's
	e.redeem("cinema", m, 20)       // café's points spent at the cinema
	ctx := e.memberSession("cafe", m)

	me, err := e.member.GetMe(ctx, &pb.GetMeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	b := me.GetBalance()
	if me.GetMember().GetId() != m.GetId() || me.GetMember().GetQrToken() == "" || b.GetAvailable() != 30 || b.GetPending() != 10 || me.GetCurrency() != "RUB" {
		t.Fatalf("GetMe = member %s (qr %q), available %d, pending %d, %s", me.GetMember().GetId(), me.GetMember().GetQrToken(),
			b.GetAvailable(), b.GetPending(), me.GetCurrency())
	}
	hist, err := e.member.ListMyHistory(ctx, &pb.ListMyHistoryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hist.GetEntries() {
		if h.GetTransaction().GetMemberId() != m.GetId() {
			t.Fatalf("history shows another member's transaction %v", h)
		}
		got = append(got, h.GetPartnerCode())
	}
	if strings.Join(got, ",") != "cinema,fuel,cafe" {
		t.Fatalf("history partners, newest first = %v", got)
	}
	exp, err := e.member.ListExpiringPoints(ctx, &pb.ListExpiringPointsRequest{Days: 366})
	if err != nil {
		t.Fatal(err)
	}
	if exp.GetTotalPoints() != 40 || len(exp.GetLots()) != 2 {
		t.Fatalf("expiring within a year = %d points in %d lots, want 40 in 2", exp.GetTotalPoints(), len(exp.GetLots()))
	}
	for _, l := range exp.GetLots() {
		if (l.GetIssuerCode() == "fuel") != l.GetPending() {
			t.Fatalf("lot of %s pending = %v", l.GetIssuerCode(), l.GetPending())
		}
	}
	if err := e.partners.SetStatus(context.Background(), "fuel", "suspended"); err != nil {
		t.Fatal(err)
	}
	ps, err := e.member.ListSpendPartners(ctx, &pb.ListSpendPartnersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.GetPartners()) != 2 || ps.GetPartners()[0].GetCode() != "cafe" || ps.GetPartners()[1].GetCode() != "cinema" {
		t.Fatalf("where to spend, with fuel suspended = %v", ps.GetPartners())
	}
	// A member session is for the member's own service only.
	wantStatus(t, errOf(e.client.GetBalance(ctx, &pb.GetBalanceRequest{Member: byID(other)})), codes.PermissionDenied, "")
	wantStatus(t, errOf(e.member.ListMyHistory(ctx, &pb.ListMyHistoryRequest{PageSize: 201})), codes.InvalidArgument, "page_size")
	// A signed-out session opens nothing.
	bad := metadata.AppendToOutgoingContext(e.anonymous(), "authorization", "Bearer cs_signed-out")
	wantStatus(t, errOf(e.member.GetMe(bad, &pb.GetMeRequest{})), codes.Unauthenticated, "")
}

func TestOnlyTheMembersOwnPartnerIssuesTheirLinkAndARefusalWritesNothing(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	links := func() (n int) {
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM member_links`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	wantStatus(t, errOf(e.client.IssueMemberLink(e.as("cinema"), &pb.IssueMemberLinkRequest{Member: byCard(m.GetCardNumber())})),
		codes.PermissionDenied, "member")
	wantStatus(t, errOf(e.client.IssueMemberLink(e.as("cafe"), &pb.IssueMemberLinkRequest{})), codes.InvalidArgument, "member")
	wantStatus(t, errOf(e.client.IssueMemberLink(e.as("cafe"), &pb.IssueMemberLinkRequest{Member: byID(&pb.Member{Id: uuid.NewString()})})),
		codes.NotFound, "member.member_id")
	if n := links(); n != 0 {
		t.Fatalf("refused requests stored %d links", n)
	}
}

func TestTheOperatorSeesPartnersStandingAndNetworkFigures(t *testing.T) {
	e := newEnv(t)
	a, b := e.enroll("cafe"), e.enroll("cinema")
	e.accrue("cafe", a, 100000)  // 50 points, café
	e.accrue("cafe", a, 100000)  // 50 more: a buys twice
	e.accrue("cinema", b, 50000) // 15 points, cinema
	e.redeem("cinema", a, 40)    // café's points at the cinema
	e.redeem("cinema", b, 5)     // cinema's own
	ctx := metadata.AppendToOutgoingContext(e.anonymous(), "authorization", "Dev role=operator")
	f, err := e.network.GetNetworkFigures(ctx, &pb.GetNetworkFiguresRequest{})
	if err != nil {
		t.Fatal(err)
	}
	g := f.GetFigures()
	if g.GetToDate() != today || g.GetActiveMembers() != 2 || g.GetPurchasingMembers() != 2 || g.GetRepeatMembers() != 1 ||
		g.GetRepeatPurchaseRateBp() != 5000 || g.GetPurchases() != 3 || g.GetAverageCheck().GetMinor() != 83333 ||
		g.GetPointsIssued() != 115 || g.GetPointsBurned() != 45 || g.GetPointsBurnedElsewhere() != 40 || g.GetCrossPartnerBurnBp() != 8888 {
		t.Fatalf("figures = %v", g)
	}
	st, err := e.network.ListPartnerStandings(ctx, &pb.ListPartnerStandingsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	outstanding := map[string]int64{}
	for _, p := range st.GetPartners() {
		outstanding[p.GetCode()] = p.GetOutstandingPoints()
	}
	if outstanding["cafe"] != 60 || outstanding["cinema"] != 10 || outstanding["fuel"] != 0 {
		t.Fatalf("outstanding points = %v", outstanding)
	}
	wantStatus(t, errOf(e.network.GetNetworkFigures(ctx, &pb.GetNetworkFiguresRequest{Days: 400})), codes.InvalidArgument, "days")
}
