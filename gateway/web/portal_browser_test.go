package web_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"google.golang.org/grpc/codes"

	"github.com/coalition-loyalty/coalition/coalition/apikeys"
)

// downloaded waits for the browser to have saved a file in dir.
func downloaded(t *testing.T, dir, name string) []byte {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil && len(b) > 0 {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("no download of %s", name)
		}
		time.Sleep(50 * time.Millisecond) // polling for the file; the assertion is its content
	}
}

// A partner's admin in the browser: the day's statement with the
// figures the workload makes, a line's drill-down adding up to it, the
// payments, an API key issued, rotated and revoked, a certificate issued
// (its files saved and working) and revoked after a confirmation.
func TestAPartnerAdminWorksThroughThePortalInTheBrowser(t *testing.T) {
	s := newSite(t)
	day := s.activity()
	wantCode(t, "making payment instructions", s.signedIn("finance", "accounting").post("/finance/payments/make", url.Values{}), http.StatusSeeOther)
	_, secret, err := s.keys.Issue(context.Background(), ptr(s.partnerID("cafe")), "partner-admin", "Ann")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browserFor(t)
	signIn(t, ctx, s.url, secret)

	// The statement: the café's net is what the workload makes it (1 point
	// = 1.00 RUB): 60 of its points spent at the cinema, 10 of the
	// cinema's spent at the café, 1 % interchange on the 60, 0.5 % issue
	// fee on the 100 it issued.
	if code := follow(t, ctx, "#nav-statements"); code != http.StatusOK {
		t.Fatalf("statements: HTTP %d", code)
	}
	if code := follow(t, ctx, `a[data-window="`+day+`"]`); code != http.StatusOK {
		t.Fatalf("statement: HTTP %d", code)
	}
	wantNet := int64(-60_00 + 10_00 - 60_00*100/10_000 - 100_00*50/10_000)
	if got := attr(t, ctx, `#nets tr[data-party="cafe"] td[data-net]`, "data-net"); got != strconv.FormatInt(wantNet, 10) {
		t.Fatalf("the café's net on its statement = %s minor units, want %d", got, wantNet)
	}
	if href := attr(t, ctx, "#csv", "href"); href != "/partner/statements/"+day+"/statement.csv" {
		t.Fatalf("statement CSV link %q", href)
	}
	flow := `#lines tr[data-payer="cafe"][data-payee="cinema"]`
	if got := text(t, ctx, flow+" td:nth-of-type(5)"); got != "60" {
		t.Fatalf("the café → cinema line shows %q points, want 60", got)
	}
	screenshot(t, ctx, "portal-statement")

	// Its drill-down adds up to the line.
	if code := follow(t, ctx, flow+" a[data-drill]"); code != http.StatusOK {
		t.Fatalf("drill-down: HTTP %d", code)
	}
	if got, total := text(t, ctx, "#line-points"), text(t, ctx, "#postings-total"); got != "60" || total != "60" {
		t.Fatalf("drill-down: line %s points, postings add up to %s; want 60 and 60", got, total)
	}
	if href := attr(t, ctx, "#drill-csv", "href"); !strings.HasPrefix(href, "/partner/statements/"+day+"/lines/") || !strings.HasSuffix(href, "/postings.csv") {
		t.Fatalf("drill-down CSV link %q", href)
	}
	screenshot(t, ctx, "portal-drill")
	if code := follow(t, ctx, "#back"); code != http.StatusOK {
		t.Fatalf("back to the statement: HTTP %d", code)
	}

	// Payments: the café pays what its statement says it owes.
	if code := follow(t, ctx, "#nav-payments"); code != http.StatusOK {
		t.Fatalf("payments: HTTP %d", code)
	}
	owed := fmt.Sprintf("%d.%02d ₽", -wantNet/100, -wantNet%100)
	if got := strings.Replace(text(t, ctx, `#instructions tr[data-party="cafe"] td:nth-of-type(4)`), "\u00a0", " ", -1); got != owed {
		t.Fatalf("the café's payment: %q, want %q", got, owed)
	}

	// API keys: issue, rotate (the old one works until the overlap ends),
	// revoke.
	if code := follow(t, ctx, "#nav-keys"); code != http.StatusOK {
		t.Fatalf("keys: HTTP %d", code)
	}
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#issue-name"), "till-2"))
	if code := follow(t, ctx, "#issue"); code != http.StatusOK {
		t.Fatalf("issuing a key: HTTP %d", code)
	}
	first := attr(t, ctx, "#issued", "data-id")
	if got := text(t, ctx, "#secret"); !strings.HasPrefix(got, apikeys.Prefix) {
		t.Fatalf("key shown: %q", got)
	}
	if code := follow(t, ctx, `form[action="/partner/keys/`+first+`/rotate"] button`); code != http.StatusOK {
		t.Fatalf("rotating: HTTP %d", code)
	}
	second := attr(t, ctx, "#issued", "data-id")
	if got := attr(t, ctx, `tr[data-key="`+first+`"]`, "data-state"); got != "expires" {
		t.Fatalf("the rotated key is %s, want expires", got)
	}
	if code := follow(t, ctx, `button[data-revoke="`+first+`"]`); code != http.StatusOK {
		t.Fatalf("revoking: HTTP %d", code)
	}
	if got := attr(t, ctx, `tr[data-key="`+first+`"]`, "data-state"); got != "revoked" {
		t.Fatalf("the revoked key is %s", got)
	}
	if got := attr(t, ctx, `tr[data-key="`+second+`"]`, "data-state"); got != "active" {
		t.Fatalf("the new key is %s", got)
	}
	screenshot(t, ctx, "portal-keys")

	// Certificates: issue one, save its files, connect with them; issue a
	// second; revoke the first after confirming.
	if code := follow(t, ctx, "#nav-certs"); code != http.StatusOK {
		t.Fatalf("certificates: HTTP %d", code)
	}
	if code := follow(t, ctx, "#issue-cert"); code != http.StatusOK {
		t.Fatalf("issuing a certificate: HTTP %d", code)
	}
	serial := attr(t, ctx, "#issued-cert", "data-serial")
	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(within(t, ctx), browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("#download-cert")))
	cert := downloaded(t, dir, "cert.pem")
	do(t, ctx, chromedp.Click(chromedp.CSS("#download-key")))
	key := downloaded(t, dir, "key.pem")
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		t.Fatalf("the saved key does not fit the saved certificate: %v", err)
	}
	if got := s.lookup(pair); got != codes.NotFound {
		t.Fatalf("a call with the saved certificate: %s, want NotFound (accepted, no such card)", got)
	}
	if code := follow(t, ctx, "#nav-certs"); code != http.StatusOK {
		t.Fatalf("certificates: HTTP %d", code)
	}
	if code := follow(t, ctx, "#issue-cert"); code != http.StatusOK {
		t.Fatalf("issuing a second certificate: HTTP %d", code)
	}
	if code := follow(t, ctx, `button[data-revoke="`+serial+`"]`); code != http.StatusOK {
		t.Fatalf("asking to revoke: HTTP %d", code)
	}
	if got := text(t, ctx, "#confirm"); !strings.Contains(got, serial) {
		t.Fatalf("the confirmation names %q, not %s", got, serial)
	}
	if code := follow(t, ctx, "#confirm-revoke"); code != http.StatusOK {
		t.Fatalf("revoking: HTTP %d", code)
	}
	if got := attr(t, ctx, `#certificates tr[data-serial="`+serial+`"]`, "data-state"); got != "revoked" {
		t.Fatalf("the revoked certificate is %s", got)
	}
	if got := text(t, ctx, `#certificates tr[data-serial="`+serial+`"] .tag`); got != "revoked" {
		t.Fatalf("the revoked certificate reads %q", got)
	}
	if n, err := chromedp.Run(within(t, ctx), chromedp.Nodes(chromedp.CSS(`#certificates tr[data-state="active"]`))); err != nil || len(n) != 1 {
		t.Fatalf("active certificates: %d, %v; want the second", len(n), err)
	}
	screenshot(t, ctx, "portal-certificates")
	if err := s.srv.RefreshRevocations(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.lookup(pair); got != codes.Unauthenticated {
		t.Fatalf("a call with the revoked certificate: %s, want Unauthenticated", got)
	}
}

// The portal's finance and marketing staff see the pages of their role
// only: in the browser the navigation offers no other, and opening one
// is refused.
func TestPortalStaffAreRefusedThePagesOfOtherRoles(t *testing.T) {
	s := newSite(t)
	day := s.activity()
	for _, c := range []struct {
		role    string
		open    string // a page of the role
		refused []string
	}{
		{"partner-finance", "/partner/statements/" + day, []string{"/partner/certificates", "/partner/keys", "/partner/staff"}},
		{"partner-marketing", "/partner", []string{"/partner/certificates", "/partner/statements/" + day + "/lines/F1", "/partner/payments"}},
	} {
		t.Run(c.role, func(t *testing.T) {
			_, secret, err := s.keys.Issue(context.Background(), ptr(s.partnerID("cafe")), c.role, "Zoe")
			if err != nil {
				t.Fatal(err)
			}
			ctx := browserFor(t)
			signIn(t, ctx, s.url, secret)
			resp, err := chromedp.Run(within(t, ctx), chromedp.NavigateResponse(s.url+c.open))
			if err != nil || resp.Status != http.StatusOK {
				t.Fatalf("%s opening %s: %v %v", c.role, c.open, resp, err)
			}
			if n, err := chromedp.Run(within(t, ctx), chromedp.Nodes(chromedp.CSS("#nav-certs"), chromedp.AtLeast(0))); err != nil || len(n) != 0 {
				t.Fatalf("%s is offered the certificates page (%v)", c.role, err)
			}
			for _, p := range c.refused {
				resp, err := chromedp.Run(within(t, ctx), chromedp.NavigateResponse(s.url+p))
				if err != nil || resp.Status != http.StatusForbidden {
					t.Fatalf("%s opening %s: %v %v, want 403", c.role, p, resp, err)
				}
				if got := text(t, ctx, ".alert"); got == "" {
					t.Fatalf("%s at %s: the refusal says nothing", c.role, p)
				}
			}
			if c.role == "partner-marketing" {
				screenshot(t, ctx, "portal-refused")
			}
		})
	}
}
