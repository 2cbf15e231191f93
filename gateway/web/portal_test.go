package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/gateway/web"
)

// partnerID is a partner's id by code.
func (s *site) partnerID(code string) coalition.PartnerID {
	s.t.Helper()
	var p coalition.PartnerID
	if err := s.pool.QueryRow(context.Background(), `SELECT id FROM partners WHERE code = $1`, code).Scan(&p); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// partnerStaff is a visitor signed in with a new credential of a partner's
// staff of role, and the credential's id.
func (s *site) partnerStaff(code, role, name string) (*visitor, string) {
	s.t.Helper()
	p := s.partnerID(code)
	k, secret, err := s.keys.Issue(context.Background(), &p, role, name)
	if err != nil {
		s.t.Fatal(err)
	}
	v := s.visitor()
	v.get("/signin")
	if a := v.post("/signin", url.Values{"credential": {secret}}); a.code != http.StatusSeeOther || a.loc != "/partner" {
		s.t.Fatalf("%s of %s signing in: HTTP %d to %q\n%s", role, code, a.code, a.loc, a.body)
	}
	v.get("/partner") // the session's own CSRF token replaces the sign-in form's
	return v, k.ID.String()
}

// portalExamples is a request of every route of the portal: the
// authorization test fails for a route in PartnerPages that has none, so a
// new page cannot be left out of it.
func portalExamples(day, ownKey string) map[string]string {
	return map[string]string{
		"GET /partner":                                 "/partner",
		"GET /partner/statements":                      "/partner/statements",
		"GET /partner/statements/{date}":               "/partner/statements/" + day,
		"GET /partner/statements/{date}/statement.csv": "/partner/statements/" + day + "/statement.csv",
		"GET /partner/payments":                        "/partner/payments",
		"GET /partner/staff":                           "/partner/staff",
		"POST /partner/staff":                          "/partner/staff",
		"POST /partner/staff/{id}/revoke":              "/partner/staff/00000000-0000-0000-0000-000000000001/revoke",
		"GET /partner/keys":                            "/partner/keys",
		"POST /partner/keys":                           "/partner/keys",
		"POST /partner/keys/{id}/rotate":               "/partner/keys/" + ownKey + "/rotate",
		"POST /partner/keys/{id}/revoke":               "/partner/keys/00000000-0000-0000-0000-000000000001/revoke",
		// portal_certs_test.go
		"GET /partner/certificates":                                "/partner/certificates",
		"GET /partner/certificates.csv":                            "/partner/certificates.csv",
		"POST /partner/certificates":                               "/partner/certificates",
		"POST /partner/certificates/{serial}/revoke":               "/partner/certificates/0a:0b/revoke",
		"GET /partner/statements/{date}/lines/{line}":              "/partner/statements/" + day + "/lines/F1",
		"GET /partner/statements/{date}/lines/{line}/postings.csv": "/partner/statements/" + day + "/lines/F1/postings.csv",
		// analytics_test.go
		"GET /partner/analytics":     "/partner/analytics",
		"GET /partner/analytics.csv": "/partner/analytics.csv?table=figures",
		// segments_test.go
		"GET /partner/segments":                "/partner/segments",
		"GET /partner/segments.csv":            "/partner/segments.csv",
		"POST /partner/segments":               "/partner/segments",
		"POST /partner/segments/{code}/retire": "/partner/segments/none-such/retire",
		// offers_test.go
		"GET /partner/offers":                    "/partner/offers",
		"GET /partner/offers.csv":                "/partner/offers.csv",
		"POST /partner/offers":                   "/partner/offers",
		"POST /partner/offers/{code}/end":        "/partner/offers/NONE/end",
		"POST /partner/offers/{code}/coupons":    "/partner/offers/NONE/coupons",
		"GET /partner/offers/{code}/coupons.csv": "/partner/offers/NONE/coupons.csv",
	}
}

// TestEveryPortalPageAdmitsExactlyItsRoles opens every page and sends
// every form of the partner portal as each portal role of two partners,
// and as the operator, finance staff, a member and someone signed out:
// the roles web.PartnerPages names get the page (never 403), everyone else is
// sent to sign in (signed out) or refused (403).
func TestEveryPortalPageAdmitsExactlyItsRoles(t *testing.T) {
	s := newSite(t)
	day := s.activity()
	type caller struct {
		v    *visitor
		role string // a portal role, or "" for everyone else
	}
	callers := map[string]caller{"anonymous": {v: s.visitor()}, "member": {v: s.member("cafe")},
		"operator": {v: s.signedIn("operator", "ops")}, "finance": {v: s.signedIn("finance", "accounting")}}
	for _, code := range []string{"cafe", "cinema"} {
		for _, role := range apikeys.PartnerStaffRoles {
			v, _ := s.partnerStaff(code, role, code+" "+role)
			callers[code+" "+role] = caller{v: v, role: role}
		}
	}
	cafeKey, _, err := s.keys.Issue(context.Background(), ptr(s.partnerID("cafe")), "partner", "till")
	if err != nil {
		t.Fatal(err)
	}
	examples := portalExamples(day, cafeKey.ID.String())
	routes := make([]string, 0, len(web.PartnerPages))
	for route := range web.PartnerPages {
		routes = append(routes, route)
	}
	sort.Strings(routes)
	for _, route := range routes {
		path, ok := examples[route]
		if !ok {
			t.Fatalf("portal route %s has no example request in portalExamples", route)
		}
		method, _, _ := strings.Cut(route, " ")
		for who, c := range callers {
			t.Run(route+" as "+who, func(t *testing.T) {
				var a answer
				if method == "POST" {
					a = c.v.post(path, url.Values{"name": {"Zoe"}, "role": {"partner-finance"}})
				} else {
					a = c.v.get(path)
				}
				want := c.role != "" && slices.Contains(web.PartnerPages[route], c.role)
				switch {
				case want && (a.code == http.StatusForbidden || a.code == http.StatusSeeOther && strings.HasPrefix(a.loc, "/signin")):
					t.Fatalf("%s refused to %s: HTTP %d to %q\n%s", route, who, a.code, a.loc, a.body)
				case want && a.code >= 500:
					t.Fatalf("%s as %s: HTTP %d\n%s", route, who, a.code, a.body)
				case !want && who == "anonymous" && (a.code != http.StatusSeeOther || !strings.HasPrefix(a.loc, "/signin?next=")):
					t.Fatalf("%s signed out: HTTP %d to %q, want the sign-in page", route, a.code, a.loc)
				case !want && who != "anonymous" && a.code != http.StatusForbidden:
					t.Fatalf("%s admitted %s: HTTP %d\n%s", route, who, a.code, a.body)
				}
			})
		}
	}
}

func ptr[T any](v T) *T { return &v }

var dataLine = regexp.MustCompile(`<tr data-line="([A-Z][0-9]+)" data-payer="([^"]*)" data-payee="([^"]*)"`)

// TestAPartnersStaffNeverSeeAnotherPartnersData: the café's admin sees the
// café's statement lines, payments, staff and keys, and none of the
// cinema's; cannot revoke or rotate the cinema's credentials; and can
// issue no credential of another partner or of the coalition's own roles.
func TestAPartnersStaffNeverSeeAnotherPartnersData(t *testing.T) {
	s := newSite(t)
	day := s.activity()
	accounting := s.signedIn("finance", "accounting")
	wantCode(t, "making payment instructions", accounting.post("/finance/payments/make", url.Values{}), http.StatusSeeOther)
	cafe, _ := s.partnerStaff("cafe", "partner-admin", "Ann Cafe")
	cinema, cinemaAdmin := s.partnerStaff("cinema", "partner-admin", "Bob Cinema")
	cinemaKey, _, err := s.keys.Issue(context.Background(), ptr(s.partnerID("cinema")), "partner", "cinema-till")
	if err != nil {
		t.Fatal(err)
	}

	// Statements: every line of the café's is the café's; none of the
	// cinema's own lines shows.
	own := cafe.get("/partner/statements/" + day)
	wantCode(t, "the café's statement", own, http.StatusOK)
	lines := dataLine.FindAllStringSubmatch(own.body, -1)
	if len(lines) == 0 {
		t.Fatalf("the café's statement has no lines:\n%s", own.body)
	}
	for _, l := range lines {
		if l[2] != "cafe" && l[3] != "cafe" {
			t.Errorf("the café's statement shows line %s of %s → %s", l[1], l[2], l[3])
		}
	}
	theirs := cinema.get("/partner/statements/" + day)
	wantCode(t, "the cinema's statement", theirs, http.StatusOK)
	cinemaOnly := 0
	for _, l := range dataLine.FindAllStringSubmatch(theirs.body, -1) {
		if l[2] != "cafe" && l[3] != "cafe" {
			cinemaOnly++
			if strings.Contains(own.body, l[0]) {
				t.Errorf("the café sees the cinema's line %s of %s → %s", l[1], l[2], l[3])
			}
		}
	}
	if cinemaOnly == 0 {
		t.Fatal("the cinema's statement has no line of its own: the test proves nothing")
	}
	csv := cafe.get("/partner/statements/" + day + "/statement.csv")
	wantCode(t, "the café's CSV", csv, http.StatusOK)
	if !strings.Contains(csv.header.Get("Content-Disposition"), "statement-cafe-"+day) {
		t.Errorf("CSV download named %q", csv.header.Get("Content-Disposition"))
	}

	// Payments: the café's only.
	pay := cafe.get("/partner/payments")
	wantCode(t, "the café's payments", pay, http.StatusOK)
	if !strings.Contains(pay.body, `data-party="cafe"`) {
		t.Fatalf("the café's payments show none of its instructions:\n%s", pay.body)
	}
	if strings.Contains(pay.body, `data-party="cinema"`) || strings.Contains(pay.body, `data-party="operator"`) {
		t.Error("the café's payments show another party's instruction")
	}

	// Staff and keys: the café's only; the cinema's ids and names never show.
	for _, p := range []string{"/partner/staff", "/partner/keys"} {
		a := cafe.get(p)
		wantCode(t, "café "+p, a, http.StatusOK)
		for _, theirs := range []string{cinemaAdmin, cinemaKey.ID.String(), "Bob Cinema", "cinema-till"} {
			if strings.Contains(a.body, theirs) {
				t.Errorf("café %s shows the cinema's %s", p, theirs)
			}
		}
	}
	if a := cafe.get("/partner/staff"); !strings.Contains(a.body, "Ann Cafe") {
		t.Error("the café's staff page does not list its admin")
	}
	// Another partner's credentials are not found, and stay as they were.
	for _, p := range []string{"/partner/staff/" + cinemaAdmin + "/revoke", "/partner/keys/" + cinemaKey.ID.String() + "/revoke",
		"/partner/keys/" + cinemaKey.ID.String() + "/rotate", "/partner/keys/" + cinemaAdmin + "/revoke"} {
		wantCode(t, "café POST "+p, cafe.post(p, url.Values{}), http.StatusNotFound)
	}
	if a := cinema.get("/partner/staff"); !strings.Contains(a.body, `data-key="`+cinemaAdmin+`" data-state="active"`) {
		t.Fatal("the cinema's admin is no longer active")
	}
	if a := cinema.get("/partner/keys"); !strings.Contains(a.body, `data-key="`+cinemaKey.ID.String()+`" data-state="active"`) {
		t.Fatal("the cinema's key is no longer active")
	}

	// Issuing: only the partner's own staff roles, and always for the
	// session's partner, whatever the form says.
	before, err := s.keys.ListOf(context.Background(), s.partnerID("cinema"))
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"operator", "finance", "partner", "member", "admin", ""} {
		a := cafe.post("/partner/staff", url.Values{"name": {"Eve"}, "role": {role}})
		wantCode(t, "issuing a "+role+" credential", a, http.StatusBadRequest)
	}
	a := cafe.post("/partner/staff", url.Values{"name": {"Carl"}, "role": {"partner-finance"}, "partner": {"cinema"}, "partner_id": {s.partnerID("cinema").String()}})
	wantCode(t, "issuing a finance credential", a, http.StatusOK)
	secret := regexp.MustCompile(`<code id="secret">(ck_[^<]+)</code>`).FindStringSubmatch(a.body)
	if secret == nil {
		t.Fatalf("the issued credential is not shown:\n%s", a.body)
	}
	k, err := s.keys.Check(context.Background(), secret[1])
	if err != nil || k.PartnerID == nil || *k.PartnerID != s.partnerID("cafe") || k.Role != "partner-finance" {
		t.Fatalf("issued %+v, %v: want the café's partner-finance", k, err)
	}
	after, err := s.keys.ListOf(context.Background(), s.partnerID("cinema"))
	if err != nil || len(after) != len(before) {
		t.Fatalf("the cinema's credentials changed: %d → %d, %v", len(before), len(after), err)
	}
	// The new finance person signs in and reads; a revoked one cannot.
	carl := s.visitor()
	carl.get("/signin")
	if a := carl.post("/signin", url.Values{"credential": {secret[1]}}); a.code != http.StatusSeeOther || a.loc != "/partner" {
		t.Fatalf("the issued credential signing in: HTTP %d to %q", a.code, a.loc)
	}
	wantCode(t, "the new finance person's statements", carl.get("/partner/statements"), http.StatusOK)
	cafe.get("/partner/staff")
	a = cafe.post("/partner/staff/"+k.ID.String()+"/revoke", url.Values{})
	if a.code != http.StatusSeeOther || a.loc != "/partner/staff" {
		t.Fatalf("revoking: HTTP %d to %q", a.code, a.loc)
	}
	if a := carl.get("/partner/statements"); a.code != http.StatusSeeOther {
		t.Fatalf("a revoked credential's session: HTTP %d, want sign in again", a.code)
	}
	// A partner's API key is for its systems: it does not sign a person in.
	_, till, err := s.keys.Issue(context.Background(), ptr(s.partnerID("cafe")), "partner", "till")
	if err != nil {
		t.Fatal(err)
	}
	v := s.visitor()
	v.get("/signin")
	wantCode(t, "signing in with a partner API key", v.post("/signin", url.Values{"credential": {till}}), http.StatusUnauthorized)
	// A suspended partner's admin manages nothing.
	if _, err := s.pool.Exec(context.Background(), `UPDATE partners SET status = 'suspended' WHERE code = 'cafe'`); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a suspended partner's staff page", cafe.get("/partner/staff"), http.StatusForbidden)
	wantCode(t, "a suspended partner's statements", cafe.get("/partner/statements"), http.StatusForbidden)
}

// TestAPartnerAdminSignsInReadsTheStatementAndIssuesACredential in the
// browser: sign in, home, the day's statement, the staff page, a new
// credential shown once.
func TestAPartnerAdminSignsInReadsTheStatementAndIssuesACredential(t *testing.T) {
	s := newSite(t)
	day := s.activity()
	_, secret, err := s.keys.Issue(context.Background(), ptr(s.partnerID("cafe")), "partner-admin", "Ann")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browserFor(t)
	signIn(t, ctx, s.url, secret)
	if got := text(t, ctx, "#partner-name"); got != "Coffee Corner" {
		t.Fatalf("home names %q", got)
	}
	screenshot(t, ctx, "partner-home")
	if code := follow(t, ctx, "#nav-statements"); code != http.StatusOK {
		t.Fatalf("statements: HTTP %d", code)
	}
	if code := follow(t, ctx, `a[data-window="`+day+`"]`); code != http.StatusOK {
		t.Fatalf("statement: HTTP %d", code)
	}
	if got := text(t, ctx, "#lines"); !strings.Contains(got, "Coffee Corner") {
		t.Fatalf("statement lines: %q", got)
	}
	if href := attr(t, ctx, "#csv", "href"); href != "/partner/statements/"+day+"/statement.csv" {
		t.Fatalf("CSV link %q", href)
	}
	screenshot(t, ctx, "partner-statement")
	if code := follow(t, ctx, "#nav-staff"); code != http.StatusOK {
		t.Fatalf("staff: HTTP %d", code)
	}
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#issue-name"), "Olga"), chromedp.SetValue(chromedp.CSS("#issue-role"), "partner-marketing"))
	if code := follow(t, ctx, "#issue"); code != http.StatusOK {
		t.Fatalf("issuing: HTTP %d", code)
	}
	if got := text(t, ctx, "#secret"); !strings.HasPrefix(got, apikeys.Prefix) {
		t.Fatalf("secret shown: %q", got)
	}
	if got := text(t, ctx, "#credentials"); !strings.Contains(got, "Olga") || !strings.Contains(got, "Marketing") {
		t.Fatalf("staff list: %q", got)
	}
	screenshot(t, ctx, "partner-staff")
}
