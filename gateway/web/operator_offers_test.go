package web_test

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/segments"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// operatorOfferRoutes are the operator's offers pages and forms, each with
// an example request.
var operatorOfferRoutes = map[string]string{
	"GET /operator/offers":                    "/operator/offers",
	"GET /operator/offers.csv":                "/operator/offers.csv",
	"GET /operator/offers/{code}/coupons.csv": "/operator/offers/NONE/coupons.csv",
	"POST /operator/offers":                   "/operator/offers",
	"POST /operator/offers/{code}/end":        "/operator/offers/NONE/end",
	"POST /operator/offers/{code}/coupons":    "/operator/offers/NONE/coupons",
}

// TestOnlyTheOperatorOpensTheOperatorsOffers: every page and form of the
// operator's offers, as the operator, finance staff, each portal role of
// a partner, a member and someone signed out: the operator gets it (a
// form about an offer that does not exist: not found), the signed-out are
// sent to sign in, everyone else is refused.
func TestOnlyTheOperatorOpensTheOperatorsOffers(t *testing.T) {
	s := newSite(t)
	callers := map[string]*visitor{"operator": s.signedIn("operator", "ops"), "finance": s.signedIn("finance", "acc"),
		"member": s.member("cafe"), "anonymous": s.visitor()}
	for _, role := range apikeys.PartnerStaffRoles {
		callers["cafe "+role], _ = s.partnerStaff("cafe", role, "cafe "+role)
	}
	routes := make([]string, 0, len(operatorOfferRoutes))
	for r := range operatorOfferRoutes {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, route := range routes {
		path := operatorOfferRoutes[route]
		method, _, _ := strings.Cut(route, " ")
		for who, v := range callers {
			t.Run(route+" as "+who, func(t *testing.T) {
				var a answer
				if method == "POST" {
					a = v.post(path, url.Values{"count": {"1"}, "max_uses": {"1"}, "request_key": {"k"}})
				} else {
					a = v.get(path)
				}
				switch {
				case who == "operator" && (a.code == http.StatusForbidden || a.code >= 500 || a.code == http.StatusSeeOther && strings.HasPrefix(a.loc, "/signin")):
					t.Fatalf("refused to the operator: HTTP %d to %q\n%s", a.code, a.loc, a.body)
				case who == "anonymous" && (a.code != http.StatusSeeOther || !strings.HasPrefix(a.loc, "/signin?next=")):
					t.Fatalf("signed out: HTTP %d to %q, want the sign-in page", a.code, a.loc)
				case who != "operator" && who != "anonymous" && a.code != http.StatusForbidden:
					t.Fatalf("admitted %s: HTTP %d\n%s", who, a.code, a.body)
				}
			})
		}
	}
}

// TestTheOperatorMakesAndEndsOffersForTheCoalition: the café makes an
// offer of its own in the portal; the operator sees it beside its own,
// makes an operator-funded offer for a coalition segment and one for
// coupons at the café, issues coupons (twice, once), and a till uses one:
// the operator's page shows the budget used and the use, the CSV names
// owners and funders, and ending the café's offer shows on the café's
// page; the café never sees the operator's offers.
func TestTheOperatorMakesAndEndsOffersForTheCoalition(t *testing.T) {
	s := newSite(t)
	s.activity()
	ops := s.signedIn("operator", "ops")
	wantCode(t, "a coalition segment", ops.post("/operator/segments", url.Values{"code": {"buyers"}, "name": {"Buyers"},
		"recency_min": {"1"}, "recency_max": {"5"}}), http.StatusSeeOther)
	s.computeSegments()
	cafe, _ := s.partnerStaff("cafe", "partner-marketing", "Mia")
	wantCode(t, "the café's offer", cafe.post("/partner/offers", s.offerForm("CAFE")), http.StatusSeeOther)

	page := ops.get("/operator/offers")
	wantCode(t, "the operator's offers", page, http.StatusOK)
	if !strings.Contains(page.body, `<option value="buyers"`) {
		t.Fatalf("the form does not offer the coalition's segment:\n%s", page.body)
	}
	seg := s.offerForm("NET")
	seg.Set("segment", "buyers")
	seg.Set("funded_by", "operator")
	wantCode(t, "an offer for the segment", ops.post("/operator/offers", seg), http.StatusSeeOther)
	coupons := s.offerForm("NETCOUPON")
	coupons.Set("funded_by", "operator")
	coupons.Set("partners", "cafe")
	a := ops.post("/operator/offers", coupons)
	if a.code != http.StatusSeeOther || a.loc != "/operator/offers" {
		t.Fatalf("a coupon offer: HTTP %d to %q\n%s", a.code, a.loc, a.body)
	}
	bad := s.offerForm("BADFUNDER")
	bad.Set("funded_by", "nobody")
	if b := ops.post("/operator/offers", bad); b.code != http.StatusBadRequest || !strings.Contains(b.body, `data-field="offer.funded_by"`) {
		t.Fatalf("an unknown funder: HTTP %d\n%s", b.code, b.body)
	}

	issue := url.Values{"count": {"2"}, "max_uses": {"1"}, "request_key": {"mailing-1"}}
	a = ops.post("/operator/offers/NETCOUPON/coupons", issue)
	if a.code != http.StatusSeeOther || a.loc != "/operator/offers/NETCOUPON/coupons.csv" {
		t.Fatalf("issuing: HTTP %d to %q\n%s", a.code, a.loc, a.body)
	}
	wantCode(t, "issuing again", ops.post("/operator/offers/NETCOUPON/coupons", issue), http.StatusSeeOther)
	lines := strings.Split(strings.TrimSpace(ops.get("/operator/offers/NETCOUPON/coupons.csv").body), "\n")
	if len(lines) != 3 {
		t.Fatalf("coupons CSV, want a header and 2 coupons:\n%s", strings.Join(lines, "\n"))
	}
	code, _, _ := strings.Cut(lines[1], ",")
	m := s.enroll("cafe")
	res, err := s.partner.Accrue(s.as("cafe"), &pb.AccrueRequest{IdempotencyKey: s.key(), OrderId: s.key(), CouponCode: code,
		Member: &pb.MemberRef{Ref: &pb.MemberRef_CardNumber{CardNumber: m.GetCardNumber()}}, Purchase: &pb.Money{Minor: 10_000, Currency: "RUB"}})
	if err != nil {
		t.Fatal(err)
	}
	last := res.GetBreakdown()[len(res.GetBreakdown())-1]
	if last.GetRule() != "coupon" || last.GetRef() != "NETCOUPON" || last.GetPoints() != 25 || last.GetFunder() != "operator" {
		t.Fatalf("breakdown %v, want the operator's coupon of 25 points", res.GetBreakdown())
	}

	page = ops.get("/operator/offers")
	for code, owner := range map[string]string{"CAFE": "cafe", "NET": "operator", "NETCOUPON": "operator"} {
		if tr := row(page.body, "data-offer", code); attrOf(tr, "data-owner") != owner {
			t.Fatalf("offer %s's row, want it made by %s:\n%s", code, owner, tr)
		}
	}
	tr := row(page.body, "data-offer", "NETCOUPON")
	if attrOf(tr, "data-funded-by") != "operator" || attrOf(tr, "data-budget-used") != "25" || attrOf(tr, "data-coupons") != "2" ||
		attrOf(tr, "data-uses") != "1" {
		t.Fatalf("the coupon offer's row, want funded by the operator, 25 points used, 2 coupons, 1 use:\n%s", tr)
	}
	if tr := row(page.body, "data-offer", "NET"); !strings.Contains(tr, "<code>buyers</code>") {
		t.Fatalf("the segment offer's row does not name its segment:\n%s", tr)
	}
	csv := ops.get("/operator/offers.csv").body
	if !strings.HasPrefix(csv, "owner,funded_by,code,") || !strings.Contains(csv, "\noperator,operator,NETCOUPON,") ||
		!strings.Contains(csv, ",1000,25,2,1,false") || !strings.Contains(csv, "\ncafe,cafe,CAFE,") {
		t.Fatalf("offers CSV:\n%s", csv)
	}

	wantCode(t, "the operator ending the café's offer", ops.post("/operator/offers/CAFE/end", url.Values{}), http.StatusSeeOther)
	own := cafe.get("/partner/offers").body
	if tr := row(own, "data-offer", "CAFE"); !strings.Contains(tr, `data-ended="true"`) {
		t.Fatalf("the café's page, its ended offer's row:\n%s", tr)
	}
	if strings.Contains(own, "NETCOUPON") || strings.Contains(cafe.get("/partner/offers.csv").body, "NET") {
		t.Fatal("the café sees the operator's offers")
	}
	wantCode(t, "the café's coupons of the operator's offer", cafe.get("/partner/offers/NETCOUPON/coupons.csv"), http.StatusNotFound)
}

// The operator in the browser: the segments page from the operator page,
// then the offers page, an offer made on its form for a coalition segment.
func TestOperatorSegmentsAndOffersInTheBrowser(t *testing.T) {
	s := newSite(t)
	s.activity()
	ctxb := context.Background()
	if _, err := s.srv.Segments().Define(ctxb, segments.Coalition, "buyers", "Bought within the year",
		segments.Definition{Recency: &segments.ScoreRange{Min: 1, Max: 5}}); err != nil {
		t.Fatal(err)
	}
	s.computeSegments()
	// The café's own offer, beside the operator's.
	now := s.clock.Now()
	if _, err := s.srv.Offers().Create(ctxb, offers.Actor{Partner: s.partnerID("cafe")}, offers.Offer{Code: "CAFE-SPRING",
		Name: "Spring coupons", BonusPoints: 25, BudgetPoints: 1000, Starts: now, Ends: now.AddDate(0, 1, 0)}); err != nil {
		t.Fatal(err)
	}
	_, secret, err := s.keys.Issue(ctxb, nil, "operator", "ops")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browserFor(t)
	signIn(t, ctx, s.url, secret)
	do(t, ctx, chromedp.Navigate(s.url+"/operator"))
	if code := follow(t, ctx, "#segments-link"); code != http.StatusOK {
		t.Fatalf("segments: HTTP %d", code)
	}
	if got := attr(t, ctx, `#segments tr[data-segment="buyers"] td[data-size]`, "data-size"); got != "2" {
		t.Fatalf("the coalition's buyers: %s, want the 2 members who bought", got)
	}
	screenshot(t, ctx, "operator-segments")
	do(t, ctx, chromedp.Navigate(s.url+"/operator"))
	if code := follow(t, ctx, "#offers-link"); code != http.StatusOK {
		t.Fatalf("offers: HTTP %d", code)
	}
	f := s.offerForm("COMEBACK")
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#offer-code"), "COMEBACK"), chromedp.SendKeys(chromedp.CSS("#offer-name"), "Come back"),
		chromedp.SetValue(chromedp.CSS("#offer-segment"), "buyers"), chromedp.SendKeys(chromedp.CSS("#offer-multiplier"), "5000"),
		chromedp.SendKeys(chromedp.CSS("#offer-budget"), "20000"),
		chromedp.SetValue(chromedp.CSS("#offer-starts"), f.Get("starts")), chromedp.SetValue(chromedp.CSS("#offer-ends"), f.Get("ends")))
	if code := follow(t, ctx, "#create-offer"); code != http.StatusOK {
		t.Fatalf("making the offer: HTTP %d", code)
	}
	if got := attr(t, ctx, `#offers tr[data-offer="COMEBACK"] td[data-funded-by]`, "data-funded-by"); got != "operator" {
		t.Fatalf("the new offer is funded by %q, want the operator", got)
	}
	screenshot(t, ctx, "operator-offers")
}
