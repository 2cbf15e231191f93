package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// computeSegments runs the daily job's segment pass over the day the
// workload cleared.
func (s *site) computeSegments() {
	s.t.Helper()
	if _, ok, err := s.srv.Segments().ComputeDue(context.Background()); err != nil || !ok {
		s.t.Fatalf("segments computed: %v, %v", ok, err)
	}
}

// TestAPartnerDefinesASegmentAndSeesOnlyItsSize: the café's marketing
// staff define a segment of every customer with a purchase (the workload
// has one: member a, who bought at the café), see its size and download
// the table; the cinema's staff see none of it; a bad condition is shown
// on the form, naming it.
func TestAPartnerDefinesASegmentAndSeesOnlyItsSize(t *testing.T) {
	s := newSite(t)
	s.activity()
	s.computeSegments()
	cafe, _ := s.partnerStaff("cafe", "partner-marketing", "Mia")
	wantCode(t, "segments page", cafe.get("/partner/segments"), http.StatusOK)
	a := cafe.post("/partner/segments", url.Values{"code": {"buyers"}, "name": {"Buyers"}, "recency_min": {"1"}, "recency_max": {"5"}})
	wantCode(t, "defining", a, http.StatusSeeOther)
	page := cafe.get("/partner/segments")
	if !strings.Contains(page.body, `data-segment="buyers"`) || !strings.Contains(page.body, `data-size="1"`) {
		t.Fatalf("the café's segments page lacks buyers of size 1:\n%s", page.body)
	}
	if strings.Contains(page.body, "/members") {
		t.Fatal("the page links to a member list")
	}
	csv := cafe.get("/partner/segments.csv")
	if lines := strings.Split(strings.TrimSpace(csv.body), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "cafe,buyers,Buyers,R=1..5,") ||
		!strings.Contains(lines[1], ",1,false,false") {
		t.Fatalf("segments CSV:\n%s", csv.body)
	}
	bad := cafe.post("/partner/segments", url.Values{"code": {"bad"}, "name": {"Bad"}, "birthday_month": {"13"}})
	wantCode(t, "a bad month", bad, http.StatusBadRequest)
	if !strings.Contains(bad.body, `data-field="definition.birthday_month"`) {
		t.Fatalf("the refusal does not name the month:\n%s", bad.body)
	}
	cinema, _ := s.partnerStaff("cinema", "partner-admin", "Ola")
	if p := cinema.get("/partner/segments"); p.code != http.StatusOK || strings.Contains(p.body, "buyers") {
		t.Fatalf("the cinema's page (HTTP %d) shows the café's segment", p.code)
	}
	if c := cinema.get("/partner/segments.csv"); strings.Contains(c.body, "buyers") {
		t.Fatalf("the cinema's CSV holds the café's segment:\n%s", c.body)
	}
	wantCode(t, "the cinema retiring the café's segment", cinema.post("/partner/segments/buyers/retire", url.Values{}), http.StatusNotFound)
	// The operator sees it under the café.
	ops := s.signedIn("operator", "ops")
	if p := ops.get("/operator/segments?partner=cafe"); p.code != http.StatusOK || !strings.Contains(p.body, `data-segment="buyers"`) {
		t.Fatalf("the operator's page of the café (HTTP %d) lacks buyers", p.code)
	}
}

// TestAMemberGivesTheirBirthdayOnTheirPage: the form keeps a real date.
func TestAMemberGivesTheirBirthdayOnTheirPage(t *testing.T) {
	s := newSite(t)
	m := s.member("cafe")
	wantCode(t, "member page", m.get("/member"), http.StatusOK)
	wantCode(t, "birthday", m.post("/member/birthday", url.Values{"day": {"29"}, "month": {"2"}}), http.StatusSeeOther)
	var n int
	if err := s.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM member_profiles WHERE birth_month = 2 AND birth_day = 29 AND birth_year IS NULL`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("birthdays kept: %d, %v", n, err)
	}
	wantCode(t, "an impossible date", m.post("/member/birthday", url.Values{"day": {"31"}, "month": {"4"}}), http.StatusBadRequest)
}

// The café's marketing staff in the browser: the segments page, a
// segment defined on its form, its size and the RFM heatmap.
func TestPortalSegmentsInTheBrowser(t *testing.T) {
	s := newSite(t)
	s.activity()
	s.computeSegments()
	_, secret, err := s.keys.Issue(context.Background(), ptr(s.partnerID("cafe")), "partner-marketing", "Mia")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browserFor(t)
	signIn(t, ctx, s.url, secret)
	if code := follow(t, ctx, "#nav-segments"); code != http.StatusOK {
		t.Fatalf("segments: HTTP %d", code)
	}
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#seg-code"), "recent"), chromedp.SendKeys(chromedp.CSS("#seg-name"), "Bought recently"),
		chromedp.SendKeys(chromedp.CSS("#seg-rmin"), "1"))
	if code := follow(t, ctx, "#define"); code != http.StatusOK {
		t.Fatalf("defining: HTTP %d", code)
	}
	if got := attr(t, ctx, `#segments tr[data-segment="recent"] td[data-size]`, "data-size"); got != "1" {
		t.Fatalf("the new segment's size is %s, want 1 (the café's one buyer)", got)
	}
	if got := attr(t, ctx, `#rfm-heatmap rect[data-r="1"][data-f="1"]`, "data-members"); got != "1" {
		t.Fatalf("the heatmap's R1 F1 cell counts %s, want 1", got)
	}
	screenshot(t, ctx, "portal-segments")
}
