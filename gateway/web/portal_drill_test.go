package web_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/partners"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

var (
	drillLink    = regexp.MustCompile(`data-drill="([A-Z][0-9]+)"`)
	linePoints   = regexp.MustCompile(`id="line-points">([^<]+)<`)
	postingTotal = regexp.MustCompile(`id="postings-total">([^<]+)<`)
	lineParties  = regexp.MustCompile(`<p id="line" data-payer="([^"]*)" data-payee="([^"]*)"`)
)

// A partner drills from its statement's lines down to the transactions
// behind them, and only into lines it is a party to: with three partners,
// no line id the café asks for shows it the cinema's and the fuel
// station's flow, or their orders.
func TestAPartnerDrillsDownIntoItsOwnLinesOnly(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	if _, err := s.srv.Partners().Add(ctx, partners.Partner{Code: "fuel", Name: "Fuel Stop", Kind: "fuel", EarnRateBP: 200, PointsTTLDays: 365}); err != nil {
		t.Fatal(err)
	}
	a, b := s.enroll("cafe"), s.enroll("cinema")
	s.accrue("cafe", a, 200000)   // 100 points issued by the café
	s.accrue("cinema", b, 100000) // 30 by the cinema
	s.redeem("cinema", a, 60)     // café → cinema: 60
	if _, err := s.partner.Redeem(s.as("cafe"), &pb.RedeemRequest{IdempotencyKey: s.key(), OrderId: "cafe-order-7",
		Member: &pb.MemberRef{Ref: &pb.MemberRef_CardNumber{CardNumber: b.GetCardNumber()}}, Points: 10}); err != nil {
		t.Fatal(err) // cinema → café: 10, an order of the café's own
	}
	if _, err := s.partner.Redeem(s.as("fuel"), &pb.RedeemRequest{IdempotencyKey: s.key(), OrderId: "fuel-order-1",
		Member: &pb.MemberRef{Ref: &pb.MemberRef_CardNumber{CardNumber: b.GetCardNumber()}}, Points: 15}); err != nil {
		t.Fatal(err) // cinema → fuel: 15, none of the café's business
	}
	day := s.clock.Now().Format(time.DateOnly)
	s.clock.Advance(24 * time.Hour)
	if _, err := s.clearing.Run(ctx, s.clock.Now().AddDate(0, 0, -1)); err != nil {
		t.Fatal(err)
	}
	// Finance sees the cinema → fuel flow and its order: the café must not.
	accounting := s.signedIn("finance", "accounting")
	report := accounting.get("/finance/" + day)
	wantCode(t, "the day's report", report, http.StatusOK)
	others := ""
	for _, m := range regexp.MustCompile(`data-line="(F[0-9]+)"`).FindAllStringSubmatch(report.body, -1) {
		if d := accounting.get("/finance/" + day + "/lines/" + m[1]); strings.Contains(d.body, "fuel-order-1") {
			others = m[1]
		}
	}
	if others == "" {
		t.Fatal("no line of the report shows the fuel station's order: the test proves nothing")
	}

	cafe, _ := s.partnerStaff("cafe", "partner-finance", "Fay Cafe")
	st := cafe.get("/partner/statements/" + day)
	wantCode(t, "the café's statement", st, http.StatusOK)
	links := drillLink.FindAllStringSubmatch(st.body, -1)
	if len(links) == 0 {
		t.Fatalf("the café's statement links no line to its drill-down:\n%s", st.body)
	}
	// Every linked line: the café is a party, and its postings add up to
	// the statement's figure for the line.
	want := map[[2]string]int64{{"cafe", "cinema"}: 60, {"cinema", "cafe"}: 10}
	seen := map[[2]string]bool{}
	for _, l := range links {
		d := cafe.get("/partner/statements/" + day + "/lines/" + l[1])
		wantCode(t, "drilling into "+l[1], d, http.StatusOK)
		p := lineParties.FindStringSubmatch(d.body)
		if p == nil || (p[1] != "cafe" && p[2] != "cafe") {
			t.Fatalf("the café drills into %s of %v", l[1], p)
		}
		total, line := postingTotal.FindStringSubmatch(d.body), linePoints.FindStringSubmatch(d.body)
		// A fee's line is money; its postings are the points it was charged on.
		if total == nil || (line == nil) != strings.HasPrefix(l[1], "X") || line != nil && total[1] != line[1] {
			t.Errorf("%s: postings add up to %v, the line says %v", l[1], total, line)
		}
		if strings.HasPrefix(l[1], "F") {
			k := [2]string{p[1], p[2]}
			if n, ok := want[k]; ok {
				seen[k] = true
				if line[1] != strconv.FormatInt(n, 10) {
					t.Errorf("%s (%s → %s) shows %s points, the workload moved %d", l[1], p[1], p[2], line[1], n)
				}
			}
		}
		if k := [2]string{p[1], p[2]}; k == [2]string{"cinema", "cafe"} && !strings.Contains(d.body, "cafe-order-7") {
			t.Errorf("the café's own order is not in %s:\n%s", l[1], d.body)
		}
		if strings.Contains(d.body, "fuel-order-1") {
			t.Errorf("%s shows another partner's order", l[1])
		}
		file := cafe.get("/partner/statements/" + day + "/lines/" + l[1] + "/postings.csv")
		wantCode(t, "the drill-down's CSV", file, http.StatusOK)
		rows, err := csv.NewReader(strings.NewReader(file.body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, r := range rows[1:] {
			n, _ := strconv.ParseInt(r[7], 10, 64)
			sum += n
		}
		if fmt.Sprint(sum) != strings.ReplaceAll(total[1], "\u00a0", "") {
			t.Errorf("%s: the CSV's postings add up to %d, the page's to %s", l[1], sum, total[1])
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("the café's statement has no drillable flow %s → %s", k[0], k[1])
		}
	}
	// Any other line id: not found, or one of the café's own.
	for _, prefix := range []string{"F", "X", "I", "B"} {
		for n := 1; n <= 8; n++ {
			id := prefix + strconv.Itoa(n)
			d := cafe.get("/partner/statements/" + day + "/lines/" + id)
			if strings.Contains(d.body, "fuel-order-1") {
				t.Errorf("the café drilled into the fuel station's order through %s", id)
			}
			if d.code != http.StatusOK {
				if d.code != http.StatusNotFound {
					t.Errorf("%s: HTTP %d, want 404 or one of the café's own lines", id, d.code)
				}
				continue
			}
			if p := lineParties.FindStringSubmatch(d.body); p == nil || (p[1] != "cafe" && p[2] != "cafe") {
				t.Errorf("the café drilled into %s of %v", id, p)
			}
		}
	}
}
