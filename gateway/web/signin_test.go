package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/sessions"
)

// hostileNext are values of ?next= (as the server reads them, decoded once)
// that a browser would follow off the site, or that are no path at all.
var hostileNext = []string{
	"/\t/evil.example", // next=/%09/evil.example: browsers drop the tab
	"/\n/evil.example",
	"/\r\n/evil.example",
	"/ /evil.example",
	"/\u00a0/evil.example",
	"/\u3000/evil.example",
	"/\x7f/evil.example",
	"/\x00/evil.example",
	"//evil.example",
	"///evil.example",
	"/\\evil.example", // browsers read a backslash as a slash
	"\\\\evil.example",
	"/%2F/evil.example", // escaped twice: "///evil.example" once unescaped
	"/%2f%2fevil.example",
	"/%5Cevil.example",
	"/%09/evil.example",
	"/%0a/evil.example",
	"/%zz",
	"/finance//evil.example",
	"https://evil.example",
	"http:/evil.example",
	"javascript:alert(1)",
	"evil.example",
	" /finance",
	"",
}

func TestSafeNextKeepsOnlyPlainPathsOfThisSite(t *testing.T) {
	for _, next := range hostileNext {
		if got := safeNext(next); got != "" {
			t.Errorf("safeNext(%q) = %q, want the home page", next, got)
		}
	}
	for _, next := range []string{"/", "/finance", "/finance/2026-01-01", "/finance/2026-01-01/lines/3", "/operator?lang=en"} {
		if got := safeNext(next); got != next {
			t.Errorf("safeNext(%q) = %q, want it kept", next, got)
		}
	}
}

// staffSignIn signs in anyone as finance staff.
type staffSignIn struct{}

func (staffSignIn) SignInStaff(context.Context, string) (sessions.Session, string, error) {
	return sessions.Session{Role: sessions.RoleFinance, ExpiresAt: time.Now().Add(time.Hour)}, "cs_token", nil
}

func (staffSignIn) OpenMemberLink(context.Context, string) (sessions.Session, string, error) {
	return sessions.Session{}, "", sessions.ErrBadLink
}

func (staffSignIn) Check(context.Context, string) (sessions.Session, error) {
	return sessions.Session{}, sessions.ErrNoSession
}

func (staffSignIn) End(context.Context, string) error { return nil }

func TestSignInNeverRedirectsOffTheSite(t *testing.T) {
	h, err := Handler(Config{Sessions: staffSignIn{}})
	if err != nil {
		t.Fatal(err)
	}
	// The form carries next on: a hostile value is dropped there already.
	res := httptest.NewRecorder()
	h.ServeHTTP(res, httptest.NewRequest("GET", "/signin?next=/%09/evil.example", nil))
	if body := res.Body.String(); res.Code != 200 || strings.Contains(body, "evil.example") {
		t.Fatalf("GET /signin?next=/%%09/evil.example = %d, the form keeps the value:\n%s", res.Code, body)
	}
	signIn := func(next string) string {
		form := url.Values{"csrf": {strings.Repeat("c", 32)}, "credential": {"ck_x"}, "next": {next}}
		req := httptest.NewRequest("POST", "/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: csrfCookie, Value: strings.Repeat("c", 32)})
		res := httptest.NewRecorder()
		h.ServeHTTP(res, req)
		if res.Code != http.StatusSeeOther {
			t.Fatalf("sign in with next %q = %d, want 303:\n%s", next, res.Code, res.Body)
		}
		return res.Header().Get("Location")
	}
	for _, next := range hostileNext {
		if loc := signIn(next); loc != "/finance" {
			t.Errorf("sign in with next %q goes to %q, want finance's home page /finance", next, loc)
		}
	}
	if loc := signIn("/finance/2026-01-01"); loc != "/finance/2026-01-01" {
		t.Errorf("sign in with next /finance/2026-01-01 goes to %q", loc)
	}
}
