package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
	"github.com/coalition-loyalty/coalition/settlement/finance"
)

// visitor is a person on the pages over plain HTTP, as a browser would
// be: cookies kept, redirects not followed, so that a test reads them.
type visitor struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string // the forms' token, from the last page that had a form
}

// answer is the pages' answer to one request.
type answer struct {
	code   int
	loc    string
	header http.Header
	body   string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (s *site) visitor() *visitor {
	jar, err := cookiejar.New(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return &visitor{t: s.t, base: s.url, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (v *visitor) do(req *http.Request) answer {
	v.t.Helper()
	res, err := v.c.Do(req)
	if err != nil {
		v.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		v.t.Fatal(err)
	}
	a := answer{code: res.StatusCode, loc: res.Header.Get("Location"), header: res.Header, body: string(b)}
	if m := csrfField.FindStringSubmatch(a.body); m != nil {
		v.csrf = html.UnescapeString(m[1])
	}
	return a
}

func (v *visitor) get(path string) answer {
	v.t.Helper()
	req, err := http.NewRequest("GET", v.base+path, nil)
	if err != nil {
		v.t.Fatal(err)
	}
	return v.do(req)
}

// post sends a form as the page's form would, with the page's CSRF token
// unless the form carries one of its own.
func (v *visitor) post(path string, form url.Values) answer {
	v.t.Helper()
	if !form.Has("csrf") {
		form.Set("csrf", v.csrf)
	}
	req, err := http.NewRequest("POST", v.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		v.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return v.do(req)
}

// upload sends a form with a file, as the statement form does.
func (v *visitor) upload(path string, fields map[string]string, file, content string) answer {
	v.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("csrf", v.csrf)
	for k, val := range fields {
		mw.WriteField(k, val)
	}
	fw, err := mw.CreateFormFile("statement", file)
	if err != nil {
		v.t.Fatal(err)
	}
	fw.Write([]byte(content))
	mw.Close()
	req, err := http.NewRequest("POST", v.base+path, &b)
	if err != nil {
		v.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return v.do(req)
}

// signedIn is a visitor signed in with a new staff credential of role,
// named name.
func (s *site) signedIn(role, name string) *visitor {
	s.t.Helper()
	_, secret, err := s.keys.Issue(context.Background(), nil, role, name)
	if err != nil {
		s.t.Fatal(err)
	}
	v := s.visitor()
	v.get("/signin")
	if a := v.post("/signin", url.Values{"credential": {secret}}); a.code != http.StatusSeeOther {
		s.t.Fatalf("%s %s signing in: HTTP %d\n%s", role, name, a.code, a.body)
	}
	v.get("/") // the session's own token replaces the sign-in form's
	v.get("/finance/payments")
	return v
}

// member is a visitor who opened their card with a partner's link.
func (s *site) member(partner string) *visitor {
	s.t.Helper()
	m := s.enroll(partner)
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

// row is the table row whose attr is value, or "".
func row(body, attr, value string) string {
	return regexp.MustCompile(`(?s)<tr [^>]*` + attr + `="` + regexp.QuoteMeta(value) + `".*?</tr>`).FindString(body)
}

func wantCode(t *testing.T, what string, a answer, code int) {
	t.Helper()
	if a.code != code {
		t.Fatalf("%s: HTTP %d, want %d\n%s", what, a.code, code, a.body)
	}
}

var financeOpsPages = []string{"/finance/payments", "/finance/adjustments", "/finance/accounts", "/finance/liability?month=2026-03",
	"/finance/liability.csv?month=2026-03", "/finance/payments/files/CO-PAY-X.xml", "/finance/payments/files/CO-PAY-X.csv"}

var financeOpsForms = []string{"/finance/payments/make", "/finance/payments/statements", "/finance/payments/files",
	"/finance/payments/lines/00000000-0000-0000-0000-000000000001", "/finance/adjustments",
	"/finance/adjustments/00000000-0000-0000-0000-000000000001", "/finance/accounts",
	"/finance/accounts/00000000-0000-0000-0000-000000000001"}

func TestFinanceOperationsPagesAreForFinanceStaffOnly(t *testing.T) {
	s := newSite(t)
	anonymous := s.visitor()
	for _, p := range financeOpsPages {
		a := anonymous.get(p)
		path, _, _ := strings.Cut(p, "?")
		if a.code != http.StatusSeeOther || a.loc != "/signin?next="+url.QueryEscape(path) {
			t.Errorf("anonymous GET %s: HTTP %d to %q, want the sign-in page", p, a.code, a.loc)
		}
	}
	for _, p := range financeOpsForms {
		if a := anonymous.post(p, url.Values{}); a.code != http.StatusSeeOther || !strings.HasPrefix(a.loc, "/signin?next=") {
			t.Errorf("anonymous POST %s: HTTP %d to %q, want the sign-in page", p, a.code, a.loc)
		}
	}
	for who, v := range map[string]*visitor{"a member": s.member("cafe"), "the operator": s.signedIn("operator", "ops")} {
		for _, p := range financeOpsPages {
			if a := v.get(p); a.code != http.StatusForbidden {
				t.Errorf("%s GET %s: HTTP %d, want 403", who, p, a.code)
			}
		}
		for _, p := range financeOpsForms {
			if a := v.post(p, url.Values{"kind": {"points"}}); a.code != http.StatusForbidden {
				t.Errorf("%s POST %s: HTTP %d, want 403", who, p, a.code)
			}
		}
	}
	staff := s.signedIn("finance", "alice")
	for _, p := range []string{"/finance/payments", "/finance/adjustments", "/finance/accounts", "/finance/liability?month=2026-03"} {
		a := staff.get(p)
		wantCode(t, "finance GET "+p, a, http.StatusOK)
		if !strings.Contains(a.body, `class="subnav"`) || !strings.Contains(a.body, `aria-current="page"`) {
			t.Errorf("%s has no finance sub-navigation marking the page", p)
		}
	}
	// A form without the session's CSRF token is refused, and does nothing.
	m := s.enroll("cafe")
	for _, p := range financeOpsForms {
		a := staff.post(p, url.Values{"csrf": {""}, "kind": {"points"}, "member_id": {m.GetId()}, "points": {"5"}, "funder": {"cafe"}, "reason": {"x"}})
		if a.code != http.StatusForbidden || !strings.Contains(a.body, "came from another site") {
			t.Errorf("POST %s without the CSRF token: HTTP %d, want 403 saying why", p, a.code)
		}
	}
	if a := staff.get("/finance/adjustments"); strings.Contains(a.body, "data-adjustment=") {
		t.Fatal("a form without the CSRF token proposed an adjustment")
	}
}

var adjustmentID = regexp.MustCompile(`data-adjustment="([0-9a-f-]{36})"`)

func TestAnAdjustmentTakesTwoPeopleThroughTheForms(t *testing.T) {
	s := newSite(t)
	m := s.enroll("cafe")
	alice, bob := s.signedIn("finance", "alice"), s.signedIn("finance", "bob")

	a := alice.post("/finance/adjustments", url.Values{"kind": {"points"}, "member_id": {m.GetId()}, "points": {"40"},
		"funder": {"cinema"}, "reason": {"points lost offline"}})
	if a.code != http.StatusSeeOther || a.loc != "/finance/adjustments?proposed=1" {
		t.Fatalf("proposing: HTTP %d to %q\n%s", a.code, a.loc, a.body)
	}
	a = alice.get(a.loc)
	id := adjustmentID.FindStringSubmatch(a.body)
	if id == nil {
		t.Fatalf("the proposal is not listed:\n%s", a.body)
	}
	tr := row(a.body, "data-adjustment", id[1])
	if !strings.Contains(tr, `data-status="proposed"`) || strings.Contains(tr, `value="approve"`) || !strings.Contains(tr, "Proposed by you") {
		t.Fatalf("the proposer's own proposal, as the proposer sees it:\n%s", tr)
	}

	// The proposer's own approval, posted all the same, is refused with
	// the server's reason.
	a = alice.post("/finance/adjustments/"+id[1], url.Values{"decision": {"approve"}})
	wantCode(t, "the proposer approving", a, http.StatusForbidden)
	if !strings.Contains(a.body, "cannot also decide it") {
		t.Fatalf("the refusal does not say why:\n%s", a.body)
	}

	// Nor is she someone else with another credential of hers (a second
	// key, or her key rotated): a person is the name her credentials were
	// issued to.
	a = s.signedIn("finance", "alice").post("/finance/adjustments/"+id[1], url.Values{"decision": {"approve"}})
	wantCode(t, "the proposer approving with another credential", a, http.StatusForbidden)

	a = bob.get("/finance/adjustments")
	if tr := row(a.body, "data-adjustment", id[1]); !strings.Contains(tr, `value="approve"`) || !strings.Contains(tr, `value="reject"`) {
		t.Fatalf("a second person sees no Approve and Reject:\n%s", tr)
	}
	a = bob.post("/finance/adjustments/"+id[1], url.Values{"decision": {"approve"}, "note": {"till log checked"}})
	if a.code != http.StatusSeeOther {
		t.Fatalf("the second person approving: HTTP %d\n%s", a.code, a.body)
	}
	a = bob.get("/finance/adjustments")
	tr = row(a.body, "data-adjustment", id[1])
	proposer := regexp.MustCompile(`(?s)<td class="proposer">(.*?)</td>`).FindStringSubmatch(tr)
	decider := regexp.MustCompile(`(?s)<td class="decider">(.*?)</td>`).FindStringSubmatch(tr)
	if !strings.Contains(tr, `data-status="approved"`) || proposer == nil || !strings.Contains(proposer[1], "alice") ||
		decider == nil || !strings.Contains(decider[1], "bob") || !strings.Contains(tr, "till log checked") ||
		!regexp.MustCompile(`<code>[0-9a-f-]{36}</code>`).MatchString(tr) {
		t.Fatalf("the approved adjustment does not show who proposed it, who approved it and its posting:\n%s", tr)
	}
	// Decided once only.
	a = bob.post("/finance/adjustments/"+id[1], url.Values{"decision": {"reject"}})
	wantCode(t, "deciding again", a, http.StatusConflict)
	if !strings.Contains(a.body, "already approved") {
		t.Fatalf("the second decision's refusal does not say why:\n%s", a.body)
	}

	// A refused proposal shows the reason and keeps what was typed.
	a = alice.post("/finance/adjustments", url.Values{"kind": {"money"}, "payer": {"cafe"}, "payee": {"cafe"}, "amount": {"12,50"},
		"business_date": {"2026-03-10"}, "reason": {"double charge"}})
	wantCode(t, "a money adjustment to the payer itself", a, http.StatusBadRequest)
	if !strings.Contains(a.body, "payee: must differ from the payer") || !strings.Contains(a.body, `value="double charge"`) {
		t.Fatalf("the refusal:\n%s", a.body)
	}
	a = alice.post("/finance/adjustments", url.Values{"kind": {"money"}, "payer": {"cafe"}, "payee": {"cinema"}, "amount": {"12.345"},
		"business_date": {"2026-03-10"}, "reason": {"double charge"}})
	wantCode(t, "an amount with three decimals", a, http.StatusBadRequest)
	if !strings.Contains(a.body, "at most two decimals") {
		t.Fatalf("the refusal:\n%s", a.body)
	}
}

// instructions makes the payment instructions of the day s.activity
// cleared through the page's button; it returns the instructions' rows by
// party.
func (s *site) instructions(staff *visitor) map[string]string {
	s.t.Helper()
	a := staff.post("/finance/payments/make", url.Values{})
	if a.code != http.StatusSeeOther || a.loc != "/finance/payments?made=2" {
		s.t.Fatalf("making instructions: HTTP %d to %q, want 2 made\n%s", a.code, a.loc, a.body)
	}
	a = staff.get(a.loc)
	rows := map[string]string{}
	for _, p := range []string{"cafe", "cinema"} {
		if rows[p] = row(a.body, "data-party", p); rows[p] == "" {
			s.t.Fatalf("no instruction of %s:\n%s", p, a.body)
		}
	}
	return rows
}

func attrOf(tr, name string) string {
	m := regexp.MustCompile(name + `="([^"]*)"`).FindStringSubmatch(tr)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func TestAStatementUploadedTwiceAddsItsLinesOnce(t *testing.T) {
	s := newSite(t)
	s.activity()
	staff := s.signedIn("finance", "alice")
	rows := s.instructions(staff)
	cafe := rows["cafe"]
	if attrOf(cafe, "data-direction") != "collect" || attrOf(cafe, "data-status") != "open" || attrOf(rows["cinema"], "data-direction") != "pay" {
		t.Fatalf("instructions:\n%s\n%s", cafe, rows["cinema"])
	}
	owed, _ := strconv.ParseInt(attrOf(cafe, "data-minor"), 10, 64)
	statement := fmt.Sprintf("booking_date,amount,currency,direction,end_to_end_id,reference\n"+
		"2026-03-12,%d.%02d,RUB,C,%s,\n2026-03-12,12.34,RUB,C,,mystery refund\n", owed/100, owed%100, attrOf(cafe, "data-e2e"))
	a := staff.upload("/finance/payments/statements", map[string]string{"format": "csv"}, "statement.csv", statement)
	if a.code != http.StatusSeeOther {
		t.Fatalf("upload: HTTP %d\n%s", a.code, a.body)
	}
	a = staff.get(a.loc)
	if n := regexp.MustCompile(`id="imported" data-lines="2" data-added="2" data-duplicates="0"`); !n.MatchString(a.body) {
		t.Fatalf("the first upload's counts:\n%s", a.body)
	}
	if got := attrOf(row(a.body, "data-party", "cafe"), "data-status"); got != "paid" {
		t.Errorf("the café's instruction after its payment is %q, want paid", got)
	}
	a = staff.upload("/finance/payments/statements", map[string]string{"format": "csv"}, "statement.csv", statement)
	a = staff.get(a.loc)
	if n := regexp.MustCompile(`id="imported" data-lines="2" data-added="0" data-duplicates="2"`); !n.MatchString(a.body) {
		t.Fatalf("the second upload's counts:\n%s", a.body)
	}
	// A file that is no statement is refused with the reason.
	a = staff.upload("/finance/payments/statements", map[string]string{"format": "csv"}, "x.csv", "not,a,statement\n")
	wantCode(t, "uploading no statement", a, http.StatusBadRequest)
	if !strings.Contains(a.body, `id="refusal"`) {
		t.Fatalf("no reason given:\n%s", a.body)
	}

	// The line that matches nothing is set aside with a note.
	a = staff.get("/finance/payments")
	line := regexp.MustCompile(`(?s)<table id="unmatched">.*?data-line="([0-9a-f-]{36})"`).FindStringSubmatch(a.body)
	if line == nil || !strings.Contains(row(a.body, "data-line", line[1]), "mystery refund") {
		t.Fatalf("the unmatched line is not listed:\n%s", a.body)
	}
	a = staff.post("/finance/payments/lines/"+line[1], url.Values{"action": {"assign"}, "note": {"?"}})
	wantCode(t, "assigning to no instruction", a, http.StatusBadRequest)
	a = staff.post("/finance/payments/lines/"+line[1], url.Values{"action": {"assign"}, "end_to_end_id": {"CO-NOPE"}})
	wantCode(t, "assigning to an unknown instruction", a, http.StatusNotFound)
	if !strings.Contains(a.body, "no payment instruction &#34;CO-NOPE&#34;") {
		t.Fatalf("the refusal does not name the instruction:\n%s", a.body)
	}
	a = staff.post("/finance/payments/lines/"+line[1], url.Values{"action": {"aside"}, "note": {"a bank fee refund"}})
	wantCode(t, "setting the line aside", a, http.StatusSeeOther)
	a = staff.get(a.loc)
	if strings.Contains(a.body, `<table id="unmatched">`) || !strings.Contains(row(a.body, "data-line", line[1]), "a bank fee refund") {
		t.Fatalf("the line set aside:\n%s", a.body)
	}
}

func TestPaymentsWaitForBankDetailsThatASecondPersonConfirms(t *testing.T) {
	s := newSite(t)
	s.activity()
	alice, bob := s.signedIn("finance", "alice"), s.signedIn("finance", "bob")
	rows := s.instructions(alice)
	cinema := attrOf(rows["cinema"], "data-e2e")
	// No banking details: nothing can be filed yet, and the page says so.
	a := alice.get("/finance/payments")
	if !strings.Contains(row(a.body, "data-party", "cinema"), "the operator&#39;s settlement account is not confirmed") ||
		strings.Contains(a.body, `id="file"`) {
		t.Fatalf("the page offers a payment file without banking details:\n%s", a.body)
	}
	wantCode(t, "a payment file without banking details", alice.post("/finance/payments/files", url.Values{}), http.StatusConflict)

	for _, form := range []url.Values{
		{"party": {"operator"}, "legal_name": {"Coalition Operator"}, "iban": {"DE89 3704 0044 0532 0130 00"}, "bic": {"COBADEFFXXX"}},
		{"party": {"cinema"}, "legal_name": {"Star Cinema LLC"}, "iban": {"NL91ABNA0417164300"}},
	} {
		form.Set("currency", "rub")
		form.Set("payment_frequency", "daily")
		form.Set("payment_days", "2")
		if a := alice.post("/finance/accounts", form); a.code != http.StatusSeeOther {
			t.Fatalf("proposing %s: HTTP %d\n%s", form.Get("party"), a.code, a.body)
		}
	}
	a = bob.get("/finance/accounts")
	ids := regexp.MustCompile(`data-account="([0-9a-f-]{36})" data-party="(\w+)" data-status="proposed"`).FindAllStringSubmatch(a.body, -1)
	if len(ids) != 2 {
		t.Fatalf("proposed versions listed: %v\n%s", ids, a.body)
	}
	for _, id := range ids {
		a := alice.post("/finance/accounts/"+id[1], url.Values{"decision": {"confirm"}})
		wantCode(t, "the proposer confirming", a, http.StatusForbidden)
		if !strings.Contains(a.body, "cannot also decide it") {
			t.Fatalf("the refusal does not say why:\n%s", a.body)
		}
		wantCode(t, "a second person confirming", bob.post("/finance/accounts/"+id[1], url.Values{"decision": {"confirm"}}), http.StatusSeeOther)
	}
	a = alice.get("/finance/accounts")
	if tr := row(a.body, "data-party", "cinema"); !strings.Contains(tr, `data-status="confirmed"`) ||
		!strings.Contains(tr, "alice") || !strings.Contains(tr, "bob") {
		t.Fatalf("the confirmed version:\n%s", tr)
	}
	// A malformed IBAN is refused in the server's words.
	a = alice.post("/finance/accounts", url.Values{"party": {"cafe"}, "legal_name": {"Cafe"}, "iban": {"DE88370400440532013000"},
		"currency": {"RUB"}, "payment_frequency": {"weekly"}, "payment_days": {"5"}})
	wantCode(t, "a malformed IBAN", a, http.StatusBadRequest)
	if !strings.Contains(a.body, "iban: ") || !strings.Contains(a.body, `<option value="weekly" selected>`) {
		t.Fatalf("the refusal:\n%s", a.body)
	}

	// Now the cinema's payment can be filed; the café's is the café's to
	// pay. A file is made once: its payment is then in no new file.
	a = alice.get("/finance/payments")
	if !strings.Contains(row(a.body, "data-party", "cinema"), "not filed yet") || !strings.Contains(a.body, `id="file"`) {
		t.Fatalf("the cinema's payment cannot be filed:\n%s", a.body)
	}
	a = alice.post("/finance/payments/files", url.Values{})
	wantCode(t, "making a payment file", a, http.StatusSeeOther)
	file := regexp.MustCompile(`filed=(CO-PAY-[0-9A-F]+)`).FindStringSubmatch(a.loc)
	if file == nil {
		t.Fatalf("made a file, redirected to %q", a.loc)
	}
	a = bob.get(a.loc)
	if !strings.Contains(row(a.body, "data-file", file[1]), "alice") || !strings.Contains(row(a.body, "data-party", "cinema"), `data-filed="`+file[1]+`"`) ||
		strings.Contains(a.body, `id="file"`) {
		t.Fatalf("the file made:\n%s", a.body)
	}
	wantCode(t, "filing again", bob.post("/finance/payments/files", url.Values{}), http.StatusConflict)
	a = alice.get("/finance/payments/files/" + file[1] + ".xml")
	wantCode(t, "the pain.001 file", a, http.StatusOK)
	if got := a.header.Get("Content-Disposition"); !strings.Contains(got, `filename="`+file[1]+`.xml"`) {
		t.Errorf("pain.001 file named %q, want %s.xml", got, file[1])
	}
	if !strings.Contains(a.body, "<EndToEndId>"+cinema+"</EndToEndId>") || !strings.Contains(a.body, "<MsgId>"+file[1]+"</MsgId>") {
		t.Fatalf("the pain.001 file does not pay the cinema:\n%s", a.body)
	}
	a = alice.get("/finance/payments/files/" + file[1] + ".csv")
	if a.code != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "text/csv") || !strings.Contains(a.body, cinema) {
		t.Fatalf("the CSV payment file: HTTP %d %s\n%s", a.code, a.header.Get("Content-Type"), a.body)
	}
	wantCode(t, "an unknown file", alice.get("/finance/payments/files/CO-PAY-NONE.xml"), http.StatusNotFound)

	// Forty days on, unpaid, the cinema's payment is overdue by 31 to 60
	// days; the café's, which the café owes, likewise.
	s.clock.Advance(40 * 24 * time.Hour)
	a = alice.get("/finance/payments")
	for _, side := range []string{"payable", "receivable"} {
		tr := regexp.MustCompile(`(?s)<tr data-party="\w+" data-side="` + side + `">.*?</tr>`).FindString(a.body)
		late := regexp.MustCompile(`data-bucket="31_60" data-minor="(\d+)"`).FindStringSubmatch(tr)
		if late == nil || late[1] == "0" {
			t.Errorf("%s overdue 31 to 60 days:\n%s", side, tr)
		}
	}
}

func TestTheLiabilityOfAMonthAndItsCSV(t *testing.T) {
	s := newSite(t)
	s.activity() // 130 points issued in March, 75 spent
	staff := s.signedIn("finance", "alice")
	a := staff.get("/finance/liability?month=2026-03")
	wantCode(t, "the liability page", a, http.StatusOK)
	network := row(a.body, "data-issuer", "network")
	if attrOf(network, "data-closing") != "55" || !strings.Contains(a.body, `id="notfinal"`) ||
		row(a.body, "data-issuer", "cafe") == "" || !strings.Contains(a.body, `<table id="expiry">`) {
		t.Fatalf("March's liability (55 points outstanding, not final while March is open):\n%s", a.body)
	}
	if !strings.Contains(a.body, `href="/finance/liability.csv?month=2026-03"`) || !strings.Contains(a.body, "?month=2026-02") {
		t.Fatalf("no CSV or month links:\n%s", a.body)
	}
	a = staff.get("/finance/liability.csv?month=2026-03")
	wantCode(t, "the liability CSV", a, http.StatusOK)
	rows, err := csv.NewReader(strings.NewReader(a.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], finance.LiabilityCSVHeader) {
		t.Fatalf("CSV header %q, want finance.LiabilityCSVHeader %q", rows[0], finance.LiabilityCSVHeader)
	}
	last := rows[len(rows)-1]
	col := func(name string) string { return last[slices.Index(rows[0], name)] }
	if len(rows) != 4 || col("issuer") != "network" || col("issued") != "130" || col("burned") != "75" || col("closing") != "55" ||
		col("closing_minor") != "5500" || col("period_from") != "2026-03-01" || col("period_to") != "2026-03-31" || col("final") != "false" {
		t.Fatalf("CSV rows: %q", rows)
	}
	for _, r := range rows {
		if len(r) != len(finance.LiabilityCSVHeader) {
			t.Fatalf("row %q has %d columns, the header %d", r, len(r), len(finance.LiabilityCSVHeader))
		}
	}
	// Without a month: the last one ended. A month that is none is refused.
	wantCode(t, "the liability page without a month", staff.get("/finance/liability"), http.StatusOK)
	wantCode(t, "the liability of no month", staff.get("/finance/liability?month=March"), http.StatusBadRequest)
}

// The payments page on a desktop and on a phone: the instructions and the
// overdue table render, and the page does not run wider than the phone
// (wide tables scroll in their own box).
func TestFinanceSeesPaymentInstructionsAndWhatIsOverdue(t *testing.T) {
	s := newSite(t)
	s.activity()
	_, secret, err := s.keys.Issue(context.Background(), nil, "finance", "accounting")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browserFor(t)
	signIn(t, ctx, s.url, secret)
	do(t, ctx, chromedp.Navigate(s.url+"/finance/payments"), chromedp.WaitVisible(chromedp.CSS("#make")))
	if st := follow(t, ctx, "#make"); st != http.StatusOK {
		t.Fatalf("making instructions: HTTP %d", st)
	}
	if got := text(t, ctx, "#made"); !strings.HasSuffix(got, "2") {
		t.Fatalf("instructions made: %q", got)
	}
	n, err := chromedp.Run(within(t, ctx), chromedp.Nodes(chromedp.CSSAll("#instructions tbody tr")))
	if err != nil || len(n) != 2 {
		t.Fatalf("instruction rows: %d, %v", len(n), err)
	}
	if got := text(t, ctx, `#instructions tr[data-party="cinema"] td:nth-of-type(1)`); got != "the operator pays the partner" {
		t.Errorf("the cinema's direction: %q", got)
	}
	if got := text(t, ctx, `#instructions tr[data-party="cafe"]`); !strings.Contains(got, "Coffee Corner") || !strings.Contains(got, "open") {
		t.Errorf("the café's instruction: %q", got)
	}
	ageing := text(t, ctx, "#ageing tbody")
	if !strings.Contains(ageing, "Coffee Corner") || !strings.Contains(ageing, "Star Cinema") || !strings.Contains(ageing, "₽") {
		t.Errorf("overdue by partner: %q", ageing)
	}
	screenshot(t, ctx, "payments")
	do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#ageing")))
	fits, err := chromedp.Run(within(t, ctx), chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	if err != nil || !fits {
		t.Errorf("on a phone the payments page runs wider than the screen (%v)", err)
	}
	if got := text(t, ctx, `#instructions tr[data-party="cinema"] td:nth-of-type(1)`); got != "the operator pays the partner" {
		t.Errorf("on a phone, the cinema's direction: %q", got)
	}
}
