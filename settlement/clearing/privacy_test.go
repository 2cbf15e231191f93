package clearing_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

// TestAPartnersDrillDownShowsOthersOnlyAsTotals: the café's points were
// spent at the fuel station by two members. Finance sees each burn; the
// fuel station sees its own burns whole; the café, whose statement has the
// same flow, sees the fuel station's side as one total, without the fuel
// station's customers, orders or transaction ids.
func TestAPartnersDrillDownShowsOthersOnlyAsTotals(t *testing.T) {
	f := newFixture(t)
	m1, m2 := f.enroll(f.cafe), f.enroll(f.cafe)
	f.accrue(f.cafe, m1, 100_000) // 50 café points each
	f.accrue(f.cafe, m2, 100_000)
	f.redeem(f.fuel, m1, 30)
	f.redeem(f.fuel, m2, 20)
	f.clear(day1)
	c := clearing.New(clearing.Config{Tx: f.runner, Clock: f.clock.Now})

	flowLine := func(partner string) string {
		t.Helper()
		b, err := c.Stored(f.ctx, day1)
		if err != nil {
			t.Fatal(err)
		}
		r, err := clearing.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if partner != "" {
			r = r.For(partner)
		}
		for _, l := range r.Lines() {
			if l.Section == clearing.SectionFlow && l.Payer == "cafe" && l.Payee == "fuel" {
				return l.ID
			}
		}
		t.Fatalf("no café → fuel flow in %q's report", partner)
		return ""
	}
	drill := func(partner string) []clearing.Posting {
		t.Helper()
		_, posts, err := c.DrillDown(f.ctx, day1, flowLine(partner), partner)
		if err != nil {
			t.Fatal(err)
		}
		var sum coalition.Points
		for _, p := range posts {
			sum += p.Points
		}
		if sum != 50 {
			t.Fatalf("%q's drill-down adds up to %d, want the line's 50", partner, sum)
		}
		return posts
	}
	whole := func(posts []clearing.Posting) bool {
		for _, p := range posts {
			if p.TransactionID == uuid.Nil || p.MemberID == (coalition.MemberID{}) || p.OrderID == "" || p.CreatedAt.IsZero() {
				return false
			}
		}
		return true
	}
	if posts := drill(""); len(posts) != 2 || !whole(posts) {
		t.Fatalf("finance sees %+v, want both burns whole", posts)
	}
	if posts := drill("fuel"); len(posts) != 2 || !whole(posts) {
		t.Fatalf("the fuel station sees %+v, want its own two burns whole", posts)
	}
	posts := drill("cafe")
	if len(posts) != 1 {
		t.Fatalf("the café sees %+v, want one total of the fuel station's burns", posts)
	}
	if p := posts[0]; p.Partner != "fuel" || p.Points != 50 || p.TransactionID != uuid.Nil || p.MemberID != (coalition.MemberID{}) ||
		p.OrderID != "" || !p.CreatedAt.IsZero() {
		t.Fatalf("the café sees %+v: the fuel station's customers, orders or transactions", p)
	}
}
