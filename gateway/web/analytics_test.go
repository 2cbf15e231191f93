package web_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/coalition-loyalty/coalition/coalition/rules"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// analyticsWorld is two business days at the café and the cinema, each
// cleared and rolled up as the daily job does, with the café's promotion
// on big checks; and the test's own record of what it did, which the pages
// are checked against.
type analyticsWorld struct {
	day1, day2 string
	// purchases at each partner each day: the amounts.
	bought map[string]map[string][]int64
	// joined: members enrolled at each partner each day.
	joined map[string]map[string]int
	// promoted: the café's members who got its promotion on day 2.
	promoted map[string]bool
}

func (s *site) analyticsWorld() analyticsWorld {
	s.t.Helper()
	ctx := context.Background()
	if _, err := s.rules.Put(ctx, rules.RuleSet{Promotions: []rules.Promotion{{Code: "big-check", Name: "Big check bonus",
		Starts: start.AddDate(0, 0, -1), Ends: start.AddDate(0, 1, 0), Partners: []string{"cafe"}, MinPurchaseMinor: 150_000,
		BonusPoints: 40, FundedBy: rules.FundedByPartner}}}); err != nil {
		s.t.Fatal(err)
	}
	w := analyticsWorld{bought: map[string]map[string][]int64{}, joined: map[string]map[string]int{}, promoted: map[string]bool{}}
	buy := func(day, code string, m *pb.Member, minor int64) {
		s.accrue(code, m, minor)
		if w.bought[day] == nil {
			w.bought[day] = map[string][]int64{}
		}
		w.bought[day][code] = append(w.bought[day][code], minor)
		if day == w.day2 && code == "cafe" && minor >= 150_000 {
			w.promoted[m.GetId()] = true
		}
	}
	join := func(day, code string) *pb.Member {
		if w.joined[day] == nil {
			w.joined[day] = map[string]int{}
		}
		w.joined[day][code]++
		return s.enroll(code)
	}
	clearDay := func() string {
		day := s.clock.Now().Format(time.DateOnly)
		s.clock.Advance(24 * time.Hour)
		if _, err := s.clearing.Run(ctx, s.clock.Now().AddDate(0, 0, -1)); err != nil {
			s.t.Fatal(err)
		}
		return day
	}
	w.day1 = s.clock.Now().Format(time.DateOnly)
	var cafe, cinema []*pb.Member
	for range 4 {
		cafe = append(cafe, join(w.day1, "cafe"))
	}
	for range 2 {
		cinema = append(cinema, join(w.day1, "cinema"))
	}
	buy(w.day1, "cafe", cafe[0], 120_000)
	buy(w.day1, "cafe", cafe[1], 80_000)
	buy(w.day1, "cinema", cinema[0], 60_000)
	clearDay()
	w.day2 = s.clock.Now().Format(time.DateOnly)
	cafe = append(cafe, join(w.day2, "cafe"))
	buy(w.day2, "cafe", cafe[0], 200_000)
	buy(w.day2, "cafe", cafe[0], 50_000)
	buy(w.day2, "cafe", cafe[2], 160_000)
	buy(w.day2, "cafe", cafe[3], 30_000)
	buy(w.day2, "cafe", cafe[4], 90_000)
	buy(w.day2, "cinema", cafe[1], 70_000)
	buy(w.day2, "cinema", cinema[1], 40_000)
	s.redeem("cinema", cafe[0], 20) // the café's points spent at the cinema
	clearDay()
	if n, err := s.srv.Analytics().RollUp(ctx); err != nil || n != 2 {
		s.t.Fatalf("rolled up %d days: %v", n, err)
	}
	return w
}

func (w analyticsWorld) purchases(day, code string) (n, minor int64) {
	for p, amounts := range w.bought[day] {
		if code == "" || p == code {
			for _, a := range amounts {
				n++
				minor += a
			}
		}
	}
	return n, minor
}

var figureRow = regexp.MustCompile(`<tr data-figure="([a-z.]+)" data-current="(-?[0-9]+)" data-previous="(-?[0-9]+)">`)

// figures reads the figures table of a page: key → current, previous.
func figures(t *testing.T, body string) map[string][2]int64 {
	t.Helper()
	out := map[string][2]int64{}
	for _, m := range figureRow.FindAllStringSubmatch(body, -1) {
		c, _ := strconv.ParseInt(m[2], 10, 64)
		p, _ := strconv.ParseInt(m[3], 10, 64)
		out[m[1]] = [2]int64{c, p}
	}
	if len(out) == 0 {
		t.Fatalf("no figures on the page:\n%s", body)
	}
	return out
}

// TestAnalyticsPagesShowTheFiguresOfThePeriodAndThePreviousOne: the café's
// marketing staff read the café's own figures over day 2 against day 1,
// the operator the network's and the cinema's; every table downloads as
// CSV with the same numbers; the café's finance staff and the cinema's
// staff never see the café's page.
func TestAnalyticsPagesShowTheFiguresOfThePeriodAndThePreviousOne(t *testing.T) {
	s := newSite(t)
	w := s.analyticsWorld()
	period := "?from=" + w.day2 + "&to=" + w.day2
	marketing, _ := s.partnerStaff("cafe", "partner-marketing", "Mia")
	page := marketing.get("/partner/analytics" + period)
	wantCode(t, "the café's analytics", page, http.StatusOK)
	got := figures(t, page.body)
	n2, minor2 := w.purchases(w.day2, "cafe")
	n1, minor1 := w.purchases(w.day1, "cafe")
	want := map[string][2]int64{
		"analytics.purchases": {n2, n1},
		"analytics.spent":     {minor2, minor1},
		"analytics.acquired":  {int64(w.joined[w.day2]["cafe"]), int64(w.joined[w.day1]["cafe"])},
		// Day 2: members 0, 2, 3, 4 at the café, member 0 twice.
		"analytics.active":    {4, 2},
		"analytics.repeat":    {1, 0},
		"analytics.check":     {minor2 / n2, minor1 / n1},
		"analytics.permember": {minor2 / 4, minor1 / 2},
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("the café's %s: %v, want %v", k, got[k], v)
		}
	}
	for _, id := range []string{"chart-compare", "chart-acquisition", "chart-cohorts"} {
		if !strings.Contains(page.body, `<svg class="chart" id="`+id+`"`) {
			t.Errorf("the café's page has no chart %s", id)
		}
	}
	// The promotion: its reach is the members the test gave it to.
	reach := regexp.MustCompile(`(?s)<tr data-promotion="big-check" data-partner="cafe">.*?<td class="num">([0-9]+)</td>`).FindStringSubmatch(page.body)
	if reach == nil || reach[1] != strconv.Itoa(len(w.promoted)) {
		t.Errorf("big-check reached %v, want %d", reach, len(w.promoted))
	}

	// Each table as CSV, with the numbers of the page.
	for _, table := range []string{"figures", "acquisition", "cross-shopping", "flows", "cohorts", "promotions"} {
		a := marketing.get("/partner/analytics.csv?table=" + table + "&from=" + w.day2 + "&to=" + w.day2)
		wantCode(t, "the café's "+table+" CSV", a, http.StatusOK)
		if cd := a.header.Get("Content-Disposition"); !strings.Contains(cd, "analytics-cafe-"+table+"-"+w.day2) {
			t.Errorf("%s CSV named %q", table, cd)
		}
		if !strings.Contains(page.body, `href="/partner/analytics.csv?table=`+table+`&amp;from=`+w.day2) {
			t.Errorf("the page has no CSV link of %s", table)
		}
		rows, err := csv.NewReader(strings.NewReader(a.body)).ReadAll()
		if err != nil || len(rows) < 2 {
			t.Fatalf("%s CSV: %v\n%s", table, err, a.body)
		}
		if table == "figures" {
			i := slices.IndexFunc(rows, func(r []string) bool { return r[0] == "purchases" })
			if i < 0 || rows[i][1] != strconv.FormatInt(n2, 10) || rows[i][2] != strconv.FormatInt(n1, 10) {
				t.Errorf("figures CSV purchases row: %v", rows)
			}
		}
		if table == "promotions" && (rows[1][2] != "big-check" || rows[1][5] != strconv.Itoa(len(w.promoted))) {
			t.Errorf("promotions CSV: %v", rows)
		}
	}
	wantCode(t, "a table the page has not", marketing.get("/partner/analytics.csv?table=members"), http.StatusNotFound)
	wantCode(t, "a period over a year", marketing.get("/partner/analytics?from=2025-01-01&to="+w.day2), http.StatusBadRequest)
	wantCode(t, "no date", marketing.get("/partner/analytics?from=yesterday&to="+w.day2), http.StatusBadRequest)

	// The cinema's staff see the cinema's, whatever they ask.
	cinema, _ := s.partnerStaff("cinema", "partner-admin", "Cid")
	theirs := cinema.get("/partner/analytics" + period + "&partner=cafe")
	wantCode(t, "the cinema's analytics", theirs, http.StatusOK)
	c2, _ := w.purchases(w.day2, "cinema")
	if f := figures(t, theirs.body); f["analytics.purchases"][0] != c2 {
		t.Errorf("the cinema's purchases: %v, want %d", f["analytics.purchases"], c2)
	}

	// The operator: the network's by default, any partner's by choice.
	ops := s.signedIn("operator", "ops")
	net := ops.get("/operator/analytics" + period)
	wantCode(t, "the network's analytics", net, http.StatusOK)
	all2, allMinor2 := w.purchases(w.day2, "")
	if f := figures(t, net.body); f["analytics.purchases"][0] != all2 || f["analytics.spent"][0] != allMinor2 {
		t.Errorf("the network's purchases and spend: %v %v, want %d %d", f["analytics.purchases"], f["analytics.spent"], all2, allMinor2)
	}
	if f := figures(t, ops.get("/operator/analytics"+period+"&partner=cinema").body); f["analytics.purchases"][0] != c2 {
		t.Errorf("the cinema's purchases to the operator: %v, want %d", f["analytics.purchases"], c2)
	}
	wantCode(t, "an unknown partner", ops.get("/operator/analytics"+period+"&partner=nobody"), http.StatusNotFound)
	a := ops.get("/operator/analytics.csv?table=cross-shopping&" + url.Values{"from": {w.day2}, "to": {w.day2}}.Encode())
	wantCode(t, "the network's cross-shopping CSV", a, http.StatusOK)
	if !strings.Contains(a.body, "current,cafe,cinema,1,false") {
		t.Errorf("the network's cross-shopping: %s", a.body)
	}
	// The default period: the 30 days ending yesterday, which is day 2.
	if f := figures(t, ops.get("/operator/analytics").body); f["analytics.purchases"][0] != all2+int64(len(w.bought[w.day1]["cafe"])+len(w.bought[w.day1]["cinema"])) {
		t.Errorf("the last 30 days' purchases: %v", f["analytics.purchases"])
	}
	wantCode(t, "the operator's page to finance staff", s.signedIn("finance", "acc").get("/operator/analytics"), http.StatusForbidden)
}

// TestPartnersAndTheOperatorReadAnalyticsInTheBrowser: the café's
// marketing staff open their analytics from the portal's home and check
// the purchases against the previous day; the operator opens the network's
// from the operator page and picks the cinema.
func TestPartnersAndTheOperatorReadAnalyticsInTheBrowser(t *testing.T) {
	s := newSite(t)
	w := s.analyticsWorld()
	_, secret, err := s.keys.Issue(context.Background(), ptr(s.partnerID("cafe")), "partner-marketing", "Mia")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browserFor(t)
	signIn(t, ctx, s.url, secret)
	if code := follow(t, ctx, "#nav-analytics"); code != http.StatusOK {
		t.Fatalf("analytics: HTTP %d", code)
	}
	// Day 2 against day 1, picked on the page.
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#from"), w.day2), chromedp.SetValue(chromedp.CSS("#to"), w.day2))
	if code := follow(t, ctx, "#show"); code != http.StatusOK {
		t.Fatalf("picking the period: HTTP %d", code)
	}
	n2, _ := w.purchases(w.day2, "cafe")
	n1, _ := w.purchases(w.day1, "cafe")
	row := `#figures tr[data-figure="analytics.purchases"]`
	if got := text(t, ctx, row+" td strong"); got != strconv.FormatInt(n2, 10) {
		t.Fatalf("purchases shown %q, want %d", got, n2)
	}
	if got := text(t, ctx, row+" td:nth-of-type(2)"); got != strconv.FormatInt(n1, 10) {
		t.Fatalf("previous purchases shown %q, want %d", got, n1)
	}
	if got := text(t, ctx, row+" td:nth-of-type(3)"); !strings.HasPrefix(got, "▲") {
		t.Fatalf("the change in purchases shown %q: they went up", got)
	}
	screenshot(t, ctx, "portal-analytics")

	_, ops, err := s.keys.Issue(context.Background(), nil, "operator", "ops")
	if err != nil {
		t.Fatal(err)
	}
	octx := browserFor(t)
	signIn(t, octx, s.url, ops)
	if code := follow(t, octx, "#analytics-link"); code != http.StatusOK {
		t.Fatalf("operator analytics: HTTP %d", code)
	}
	all2, _ := w.purchases(w.day2, "")
	all1, _ := w.purchases(w.day1, "")
	if got := text(t, octx, row+" td strong"); got != strconv.FormatInt(all1+all2, 10) {
		t.Fatalf("the network's purchases over the last 30 days shown %q, want %d", got, all1+all2)
	}
	do(t, octx, chromedp.WaitVisible(chromedp.CSS("#chart-cohorts")))
	screenshot(t, octx, "operator-analytics")
	do(t, octx, chromedp.SetValue(chromedp.CSS("#from"), w.day2), chromedp.SetValue(chromedp.CSS("#to"), w.day2),
		chromedp.SetValue(chromedp.CSS("#partner"), "cinema"))
	if code := follow(t, octx, "#show"); code != http.StatusOK {
		t.Fatalf("the cinema's: HTTP %d", code)
	}
	c2, _ := w.purchases(w.day2, "cinema")
	if got := text(t, octx, "#scope"); got != "Star Cinema" {
		t.Fatalf("scope shown %q", got)
	}
	if got := text(t, octx, row+" td strong"); got != strconv.FormatInt(c2, 10) {
		t.Fatalf("the cinema's purchases shown %q, want %d", got, c2)
	}
}
