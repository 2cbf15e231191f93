package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/coalition-loyalty/coalition/coalition/enrolment/sender"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/gateway/server"
)

// fitsThePhone fails the test if the page is wider than the phone's
// screen (a form or a table that makes the person scroll sideways).
func fitsThePhone(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	w, err := chromedp.Run(within(t, ctx), chromedp.Evaluate[int64](`document.documentElement.scrollWidth`))
	if err != nil || w > 390 {
		t.Fatalf("%s is %d px wide on a 390 px phone (%v)", page, w, err)
	}
}

// A newcomer at the café's airport counter scans the poster's QR code with
// a phone, types the number, the code the SMS brings (the dev outbox here)
// and accepts the terms, and lands on the new card with the café's welcome
// points.
func TestANewcomerJoinsByQRCodeOnAPhoneAndSeesTheWelcomePoints(t *testing.T) {
	outbox := t.TempDir()
	s := newSite(t, func(c *server.Config) {
		out, err := sender.NewOutbox(outbox, func() time.Time { return start })
		if err != nil {
			t.Fatal(err)
		}
		c.Join = server.JoinConfig{Sender: out, TermsVersion: "2026-03", TermsURL: "https://coalition.example/terms"}
		c.Wallet = server.WalletConfig{PassTypeID: "pass.org.coalition.test", TeamID: "TEAM000001"}
	})
	if _, err := s.rules.Put(context.Background(), rules.RuleSet{Partners: []rules.PartnerRules{{Partner: "cafe", WelcomePoints: 100}}}); err != nil {
		t.Fatal(err)
	}
	ctx := browserFor(t)
	do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile))
	// The link the poster's QR code carries.
	do(t, ctx, chromedp.Navigate(s.url+"/join/cafe/poster?at=airport"), chromedp.WaitVisible(chromedp.CSS("#poster-qr svg")))
	link := text(t, ctx, "#poster-link")
	if link != s.url+"/join/cafe?at=airport" {
		t.Fatalf("the poster's link is %q", link)
	}
	screenshot(t, ctx, "join-poster")

	resp, err := chromedp.Run(within(t, ctx), chromedp.NavigateResponse(link))
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("opening the QR code's link: %v %v", resp, err)
	}
	if got := text(t, ctx, "#join-partner"); !strings.Contains(got, "Coffee Corner") {
		t.Fatalf("the page names %q, not the café", got)
	}
	fitsThePhone(t, ctx, "the number's page")
	screenshot(t, ctx, "join")
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#contact"), "+7 900 555-01-23"))
	if st := follow(t, ctx, "#send"); st != http.StatusOK {
		t.Fatalf("sending the code: HTTP %d", st)
	}
	if got := text(t, ctx, ".lead"); !strings.Contains(got, "23") || strings.Contains(got, "555") {
		t.Fatalf("the code page says %q: it should show the number's end only", got)
	}
	fitsThePhone(t, ctx, "the code's page")
	msgs, err := sender.ReadOutbox(outbox)
	if err != nil || len(msgs) != 1 || msgs[0].To != "+79005550123" {
		t.Fatalf("outbox: %+v (%v)", msgs, err)
	}
	code := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(msgs[0].Text)
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#code"), code), chromedp.Click(chromedp.CSS("#consent")))
	screenshot(t, ctx, "join-code")
	if st := follow(t, ctx, "#verify"); st != http.StatusOK {
		t.Fatalf("entering the code: HTTP %d", st)
	}
	where, err := chromedp.Run(within(t, ctx), chromedp.Location())
	if err != nil || where != s.url+"/member" {
		t.Fatalf("after the code the browser is at %q (%v)", where, err)
	}
	if got := attr(t, ctx, "#available .value", "data-points"); got != "100" {
		t.Fatalf("available points on the new card = %s, want the café's welcome 100", got)
	}
	// The only member: enrolled just now, at the café.
	var card, home string
	if err := s.pool.QueryRow(context.Background(), `
		SELECT m.card_number, p.code FROM members AS m JOIN partners AS p ON p.id = m.home_partner_id`).Scan(&card, &home); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#card-number"); got != card || home != "cafe" {
		t.Fatalf("card number shown %q; the member's is %q, enrolled at %s", got, card, home)
	}
	screenshot(t, ctx, "join-card")

	// And the card goes into the phone's wallet: the button downloads the
	// signed pass (a zip with its manifest and signature), as the member.
	type download struct {
		Status      int    `json:"status"`
		ContentType string `json:"type"`
		Magic       string `json:"magic"`
		Size        int    `json:"size"`
	}
	href := attr(t, ctx, "#add-apple", "href")
	pass, err := chromedp.Run(within(t, ctx), chromedp.Evaluate[download](`fetch(`+strconv.Quote(href)+`).then(async r => {
			const b = new Uint8Array(await r.arrayBuffer());
			return {status: r.status, type: r.headers.get("Content-Type"), magic: String.fromCharCode(b[0], b[1]), size: b.length};
		})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if pass.Status != http.StatusOK || pass.ContentType != "application/vnd.apple.pkpass" || pass.Magic != "PK" || pass.Size < 1000 {
		t.Fatalf("the Apple Wallet button gave %+v", pass)
	}
}
