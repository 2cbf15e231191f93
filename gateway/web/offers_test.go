package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/coalition-loyalty/coalition/coalition/offers"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// memberVisitor opens a member link of m, as the member would.
func (s *site) memberVisitor(partner string, m *pb.Member) *visitor {
	s.t.Helper()
	link, err := s.partner.IssueMemberLink(s.as(partner), &pb.IssueMemberLinkRequest{
		Member: &pb.MemberRef{Ref: &pb.MemberRef_CardNumber{CardNumber: m.GetCardNumber()}}})
	if err != nil {
		s.t.Fatal(err)
	}
	v := s.visitor()
	path := strings.TrimPrefix(link.GetUrl(), s.url)
	v.get(path)
	if a := v.post(path, url.Values{}); a.code != http.StatusSeeOther || a.loc != "/member" {
		s.t.Fatalf("opening the member link: HTTP %d to %q", a.code, a.loc)
	}
	return v
}

// offerForm is the portal's form for an offer of 25 points on a coupon,
// for the month from the site's day.
func (s *site) offerForm(code string) url.Values {
	day := s.clock.Now().UTC()
	return url.Values{"code": {code}, "name": {"Spring"}, "bonus_points": {"25"}, "starts": {day.Format(time.DateOnly)},
		"ends": {day.AddDate(0, 1, 0).Format(time.DateOnly)}, "budget_points": {"1000"}}
}

// TestAPartnerMakesAnOfferAndIssuesCouponsInThePortal: the café's
// marketing staff make a coupon offer, issue three coupons (sending the
// form twice issues them once) and download them; a till uses one; the
// page and its CSV show the points given and the use; the cinema's staff
// see none of it and cannot end it; a bad budget is shown on the form; a
// member sees the coupon issued to them on their page.
func TestAPartnerMakesAnOfferAndIssuesCouponsInThePortal(t *testing.T) {
	s := newSite(t)
	cafe, _ := s.partnerStaff("cafe", "partner-marketing", "Mia")
	wantCode(t, "making the offer", cafe.post("/partner/offers", s.offerForm("SPRING")), http.StatusSeeOther)
	issue := url.Values{"count": {"3"}, "max_uses": {"1"}, "request_key": {"print-1"}}
	a := cafe.post("/partner/offers/SPRING/coupons", issue)
	if a.code != http.StatusSeeOther || a.loc != "/partner/offers/SPRING/coupons.csv" {
		t.Fatalf("issuing: HTTP %d to %q\n%s", a.code, a.loc, a.body)
	}
	wantCode(t, "issuing again", cafe.post("/partner/offers/SPRING/coupons", issue), http.StatusSeeOther)
	csv := cafe.get("/partner/offers/SPRING/coupons.csv")
	lines := strings.Split(strings.TrimSpace(csv.body), "\n")
	if len(lines) != 4 || lines[0] != "code,offer,member_card,max_uses,uses" {
		t.Fatalf("coupons CSV, want a header and 3 coupons:\n%s", csv.body)
	}
	code, _, _ := strings.Cut(lines[1], ",")
	m := s.enroll("cafe")
	res, err := s.partner.Accrue(s.as("cafe"), &pb.AccrueRequest{IdempotencyKey: s.key(), OrderId: s.key(), CouponCode: code,
		Member: &pb.MemberRef{Ref: &pb.MemberRef_CardNumber{CardNumber: m.GetCardNumber()}}, Purchase: &pb.Money{Minor: 10_000, Currency: "RUB"}})
	if err != nil {
		t.Fatal(err)
	}
	if last := res.GetBreakdown()[len(res.GetBreakdown())-1]; last.GetRule() != "coupon" || last.GetPoints() != 25 {
		t.Fatalf("breakdown %v, want the coupon's 25 points", res.GetBreakdown())
	}
	page := cafe.get("/partner/offers")
	tr := row(page.body, "data-offer", "SPRING")
	if attrOf(tr, "data-budget-used") != "25" || attrOf(tr, "data-coupons") != "3" || attrOf(tr, "data-uses") != "1" {
		t.Fatalf("the offer's row, want 25 points used, 3 coupons, 1 use:\n%s", tr)
	}
	if c := cafe.get("/partner/offers.csv"); !strings.Contains(c.body, "\nSPRING,Spring,coupons,,25,0,") || !strings.Contains(c.body, ",1000,25,3,1,false") {
		t.Fatalf("offers CSV:\n%s", c.body)
	}
	bad := cafe.post("/partner/offers", func() url.Values { f := s.offerForm("BAD"); f.Set("budget_points", "0"); return f }())
	wantCode(t, "a budget of nothing", bad, http.StatusBadRequest)
	if !strings.Contains(bad.body, `data-field="offer.budget_points"`) {
		t.Fatalf("the refusal does not name the budget:\n%s", bad.body)
	}
	cinema, _ := s.partnerStaff("cinema", "partner-admin", "Ola")
	if p := cinema.get("/partner/offers"); p.code != http.StatusOK || strings.Contains(p.body, "SPRING") {
		t.Fatalf("the cinema's page (HTTP %d) shows the café's offer", p.code)
	}
	wantCode(t, "the cinema ending the café's offer", cinema.post("/partner/offers/SPRING/end", url.Values{}), http.StatusNotFound)
	wantCode(t, "the cinema's coupons of it", cinema.get("/partner/offers/SPRING/coupons.csv"), http.StatusNotFound)

	// A coupon of the offer for one member shows on that member's page.
	mine, err := s.srv.Offers().IssueCoupons(context.Background(), offers.Actor{Operator: true},
		offers.Issue{Offer: "SPRING", RequestKey: "for-m", Count: 1, MaxUses: 1, MemberCard: m.GetCardNumber()})
	if err != nil {
		t.Fatal(err)
	}
	member := s.memberVisitor("cafe", m).get("/member")
	if !strings.Contains(member.body, `data-offer="SPRING"`) || !strings.Contains(member.body, offers.Printed(mine[0].Code)) {
		t.Fatalf("the member's page lacks the offer and its coupon:\n%s", member.body)
	}
	wantCode(t, "ending it", cafe.post("/partner/offers/SPRING/end", url.Values{}), http.StatusSeeOther)
	if tr := row(cafe.get("/partner/offers").body, "data-offer", "SPRING"); !strings.Contains(tr, `data-ended="true"`) {
		t.Fatalf("the ended offer's row:\n%s", tr)
	}
}

// The café's marketing staff in the browser: the offers page, an offer
// made on its form, shown in the table.
func TestPortalOffersInTheBrowser(t *testing.T) {
	s := newSite(t)
	_, secret, err := s.keys.Issue(context.Background(), ptr(s.partnerID("cafe")), "partner-marketing", "Mia")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browserFor(t)
	signIn(t, ctx, s.url, secret)
	if code := follow(t, ctx, "#nav-offers"); code != http.StatusOK {
		t.Fatalf("offers: HTTP %d", code)
	}
	f := s.offerForm("SPRING")
	// Date fields take the date as the browser's locale types it; set
	// their values directly.
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#offer-code"), "SPRING"), chromedp.SendKeys(chromedp.CSS("#offer-name"), "Spring coupons"),
		chromedp.SendKeys(chromedp.CSS("#offer-bonus"), "25"), chromedp.SendKeys(chromedp.CSS("#offer-budget"), "1000"),
		chromedp.SetValue(chromedp.CSS("#offer-starts"), f.Get("starts")), chromedp.SetValue(chromedp.CSS("#offer-ends"), f.Get("ends")))
	if code := follow(t, ctx, "#create-offer"); code != http.StatusOK {
		t.Fatalf("making the offer: HTTP %d", code)
	}
	if got := attr(t, ctx, `#offers tr[data-offer="SPRING"] td[data-budget-used]`, "data-budget-used"); got != "0" {
		t.Fatalf("the new offer's budget used is %s, want 0", got)
	}
	screenshot(t, ctx, "portal-offers")
}
