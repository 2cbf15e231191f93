package rpc_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
	"github.com/coalition-loyalty/coalition/settlement/analytics"
)

// TestAnalyticsOverTheAPI: a day of purchases at the café and the cinema,
// cleared and rolled up as the daily job does; the café (its systems, its
// marketing staff) reads its own figures, the operator the network's and
// either partner's, and the figures are the day's purchases as the test
// made them. Bad periods and partners are refused precisely.
func TestAnalyticsOverTheAPI(t *testing.T) {
	e := newEnv(t)
	m1, m2 := e.enroll("cafe"), e.enroll("cafe")
	e.accrue("cafe", m1, 100_000)
	e.accrue("cafe", m1, 20_000)
	e.accrue("cafe", m2, 50_000)
	e.accrue("cinema", m2, 30_000)
	e.clock.Advance(24 * time.Hour)
	if _, err := e.clearing.RunDue(e.as("cafe")); err != nil {
		t.Fatal(err)
	}
	tx, err := txn.New(context.Background(), e.pool)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := analytics.New(analytics.Config{Tx: tx, Clock: e.clock.Now}).RollUp(context.Background()); err != nil || n != 1 {
		t.Fatalf("rolled up %d days: %v", n, err)
	}
	day := start.Format(time.DateOnly)
	client := pb.NewAnalyticsServiceClient(e.conn)
	get := func(ctx context.Context, partner string) *pb.GetAnalyticsResponse {
		t.Helper()
		r, err := client.GetAnalytics(ctx, &pb.GetAnalyticsRequest{From: day, To: day, Partner: partner})
		if err != nil {
			t.Fatalf("GetAnalytics(%q): %v", partner, err)
		}
		if r.GetRolledUpTo() != day || r.GetCurrency() != "RUB" || r.GetPrevious().GetTo() != start.AddDate(0, 0, -1).Format(time.DateOnly) {
			t.Fatalf("GetAnalytics(%q): %v", partner, r)
		}
		return r
	}
	marketing := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.portalSession(e.cafe.ID, "partner-marketing"))
	for name, r := range map[string]*pb.GetAnalyticsResponse{
		"the café":                 get(e.as("cafe"), ""),
		"the café naming itself":   get(e.as("cafe"), "cafe"),
		"the café's marketing":     get(marketing, ""),
		"the operator, the café's": get(e.operator(), "cafe"),
	} {
		c := r.GetCurrent()
		if r.GetPartner() != "cafe" || c.GetPurchases() != 3 || c.GetSpentMinor() != 170_000 || c.GetActiveMembers() != 2 ||
			c.GetRepeatMembers() != 1 || c.GetRepeatShareBp() != 5_000 || c.GetAverageCheckMinor() != 56_666 || c.GetAcquiredTotal() != 2 {
			t.Errorf("%s: %v", name, c)
		}
	}
	if c := get(e.operator(), "cinema").GetCurrent(); c.GetPurchases() != 1 || c.GetSpentMinor() != 30_000 || c.GetAcquiredTotal() != 0 {
		t.Errorf("the cinema's: %v", c)
	}
	net := get(e.operator(), "")
	if c := net.GetCurrent(); net.GetPartner() != "" || c.GetPurchases() != 4 || c.GetActiveMembers() != 2 || c.GetAcquiredTotal() != 2 {
		t.Errorf("the network's: %v", c)
	}
	// m2 bought at both: a cell of the café's members at the cinema.
	var cross bool
	for _, s := range net.GetCurrent().GetCrossShopping() {
		cross = cross || s.GetHome() == "cafe" && s.GetAt() == "cinema" && s.GetMembers() == 1
	}
	if !cross {
		t.Errorf("cross-shopping: %v", net.GetCurrent().GetCrossShopping())
	}

	long := start.AddDate(0, 0, -analytics.MaxPeriod).Format(time.DateOnly)
	for _, c := range []struct {
		name  string
		ctx   context.Context
		req   *pb.GetAnalyticsRequest
		code  codes.Code
		field string
	}{
		{"another partner's figures", e.as("cafe"), &pb.GetAnalyticsRequest{From: day, To: day, Partner: "cinema"}, codes.PermissionDenied, "partner"},
		{"an unknown partner", e.operator(), &pb.GetAnalyticsRequest{From: day, To: day, Partner: "nobody"}, codes.NotFound, "partner"},
		{"a period over a year", e.operator(), &pb.GetAnalyticsRequest{From: long, To: day}, codes.InvalidArgument, "to"},
		{"a period ending before it starts", e.operator(), &pb.GetAnalyticsRequest{From: day, To: long}, codes.InvalidArgument, "to"},
		{"no such day", e.operator(), &pb.GetAnalyticsRequest{From: "2026-02-30", To: day}, codes.InvalidArgument, "from"},
		{"no date", e.operator(), &pb.GetAnalyticsRequest{From: day, To: "10.03.2026"}, codes.InvalidArgument, "to"},
		{"the operator's own books", e.operator(), &pb.GetAnalyticsRequest{From: day, To: day, Partner: "operator"}, codes.NotFound, "partner"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := client.GetAnalytics(c.ctx, c.req)
			wantStatus(t, err, c.code, c.field)
		})
	}
}
