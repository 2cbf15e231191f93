package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/enrolment/sender"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
)

// joinStart is noon in Moscow: the business day is the UTC date.
var joinStart = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// joinSite is coalitiond with joining by QR on, as `serve --join-sender
// dev` runs it: a real Vault keys the hashes of phones and codes, the
// codes go to an outbox folder the test reads, and a proxy on loopback is
// trusted to name clients (so each test person has an address of their
// own). Codes and sessions are judged by clock, which the test moves.
type joinSite struct {
	t      *testing.T
	srv    *servertest.Server
	url    string
	clock  *clock.Manual
	outbox string
	cafe   partners.Partner
	cinema partners.Partner
	people int
}

func newJoinSite(t *testing.T) *joinSite {
	t.Helper()
	ctx := context.Background()
	vs, _, creds := servertest.Vault(t)
	c := clock.NewManual(joinStart)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := sender.NewOutbox(dir, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, server.Config{
		Pool: pgtest.NewDB(t), HTTPListener: hl, HTTPPlaintext: true, DevAuth: true,
		Vault:    server.VaultConfig{Addr: vs.Addr, RoleID: creds.RoleID, SecretID: creds.SecretID},
		TLSHosts: []string{"localhost", "127.0.0.1"},
		Settings: ledger.Settings{Name: "Coalition Test", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100},
		Join: server.JoinConfig{Sender: out, TermsVersion: "2026-03", TermsURL: "https://coalition.example/terms",
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
		Now: c.Now, CredentialClock: c.Now,
	})
	s := &joinSite{t: t, srv: srv, url: srv.PublicURL(), clock: c, outbox: dir}
	if s.cafe, err = srv.Partners().Add(ctx, partners.Partner{Code: "cafe", Name: "Coffee Corner", Kind: "café", EarnRateBP: 500, PointsTTLDays: 365}); err != nil {
		t.Fatal(err)
	}
	if s.cinema, err = srv.Partners().Add(ctx, partners.Partner{Code: "cinema", Name: "Star Cinema", Kind: "cinema", EarnRateBP: 300, PointsTTLDays: 365}); err != nil {
		t.Fatal(err)
	}
	// The café gives new members 100 points.
	if _, err := srv.Rules().Put(ctx, rules.RuleSet{Partners: []rules.PartnerRules{{Partner: "cafe", WelcomePoints: 100}}}); err != nil {
		t.Fatal(err)
	}
	return s
}

// person is one phone's browser: its cookies (kept whatever their expiry
// says, since the test's clock is not the wall clock) and its address, as
// the trusted proxy forwards it. It follows no redirect by itself.
type person struct {
	s       *joinSite
	addr    string
	cookies map[string]string
	client  *http.Client
}

func (s *joinSite) person() *person {
	s.people++
	return &person{s: s, addr: "198.51.100." + strconv.Itoa(s.people), cookies: map[string]string{},
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type reply struct {
	status   int
	location string
	body     string
}

func (p *person) do(method, path string, form url.Values) reply {
	p.s.t.Helper()
	var body io.Reader
	if form != nil {
		form.Set("csrf", p.cookies["coalition_csrf"])
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, p.s.url+path, body)
	if err != nil {
		p.s.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Forwarded-For", p.addr)
	for k, v := range p.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	res, err := p.client.Do(req)
	if err != nil {
		p.s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 {
			delete(p.cookies, c.Name)
		} else {
			p.cookies[c.Name] = c.Value
		}
	}
	return reply{status: res.StatusCode, location: res.Header.Get("Location"), body: string(b)}
}

func (p *person) get(path string) reply { return p.do("GET", path, nil) }

func (p *person) post(path string, form url.Values) reply { return p.do("POST", path, form) }

// askCode opens the QR code's link and asks for a code for number: the
// pages it went through.
func (p *person) askCode(link, number string) []reply {
	p.s.t.Helper()
	u, _ := url.Parse(link)
	form := p.get(link)
	if form.status != http.StatusOK {
		p.s.t.Fatalf("GET %s: %d\n%s", link, form.status, form.body)
	}
	sent := p.post(u.Path, url.Values{"contact": {number}, "at": {u.Query().Get("at")}})
	if sent.status != http.StatusSeeOther {
		return []reply{form, sent}
	}
	return []reply{form, sent, p.get(sent.location)}
}

var codeRE = regexp.MustCompile(`\b[0-9]{6}\b`)

// code is the last code the outbox holds for number.
func (s *joinSite) code(number string) string {
	s.t.Helper()
	msgs, err := sender.ReadOutbox(s.outbox)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To == number {
			return codeRE.FindString(msgs[i].Text)
		}
	}
	s.t.Fatalf("no code was sent to %s", number)
	return ""
}

func (s *joinSite) sentTo(number string) int {
	msgs, err := sender.ReadOutbox(s.outbox)
	if err != nil {
		s.t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if m.To == number {
			n++
		}
	}
	return n
}

// enterCode types a code (with the terms accepted) on the partner's code
// page.
func (p *person) enterCode(partner, at, code string) reply {
	return p.post("/join/"+partner+"/code", url.Values{"code": {code}, "consent": {"yes"}, "at": {at}})
}

func (s *joinSite) member(number string) (ledger.Member, error) {
	return s.srv.Ledger().MemberOf(context.Background(), ledger.MemberRef{Phone: number})
}

func (s *joinSite) count(q string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.srv.Pool().QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

func TestJoiningByQRAtAPointOfSaleEnrolsThereWithTheWelcomeBonusAndOpensTheCard(t *testing.T) {
	s := newJoinSite(t)
	p := s.person()
	pages := p.askCode("/join/cafe?at=airport", "+7 900 555-01-23")
	if len(pages) != 3 || pages[1].location != "/join/cafe/code?at=airport" || pages[2].status != http.StatusOK {
		t.Fatalf("asking for a code: %+v", pages[len(pages)-1])
	}
	form, codePage := pages[0].body, pages[2].body
	for _, want := range []string{"Coffee Corner", "Coalition Test", `type="tel"`, `name="at" value="airport"`, `href="/join/cafe?at=airport&amp;lang=ru"`} {
		if !strings.Contains(form, want) {
			t.Errorf("the form lacks %s", want)
		}
	}
	for _, want := range []string{"••••••••23", `autocomplete="one-time-code"`, `name="consent"`, `href="https://coalition.example/terms"`, "2026-03"} {
		if !strings.Contains(codePage, want) {
			t.Errorf("the code page lacks %s", want)
		}
	}
	if strings.Contains(codePage, "+79005550123") {
		t.Error("the code page shows the whole number")
	}
	msgs, _ := sender.ReadOutbox(s.outbox)
	if len(msgs) != 1 || msgs[0].To != "+79005550123" || !strings.Contains(msgs[0].Text, "Coalition Test") {
		t.Fatalf("outbox: %+v", msgs)
	}
	// The terms must be accepted: without the box ticked, the code is not
	// even tried.
	if r := p.post("/join/cafe/code", url.Values{"code": {s.code("+79005550123")}, "at": {"airport"}}); r.status != http.StatusBadRequest || !strings.Contains(r.body, "accept the programme") {
		t.Fatalf("no consent: %d", r.status)
	}
	done := p.enterCode("cafe", "airport", s.code("+79005550123"))
	if done.status != http.StatusSeeOther || done.location != "/member" {
		t.Fatalf("the right code: %d %s\n%s", done.status, done.location, done.body)
	}
	if _, ok := p.cookies["coalition_join"]; ok {
		t.Error("the code's cookie outlived its use")
	}
	card := p.get("/member")
	if card.status != http.StatusOK || !strings.Contains(card.body, `data-points="100"`) {
		t.Fatalf("the card page: %d\n%s", card.status, card.body)
	}
	m, err := s.member("+79005550123")
	if err != nil {
		t.Fatal(err)
	}
	if m.HomePartnerID != s.cafe.ID || !strings.Contains(card.body, m.CardNumber) {
		t.Fatalf("member %+v: enrolled at %v, want the café; card page shows the card: %v", m, m.HomePartnerID, strings.Contains(card.body, m.CardNumber))
	}
	b, err := s.srv.Ledger().BalanceOf(context.Background(), ledger.MemberRef{ID: m.ID})
	if err != nil || b.Available != 100 {
		t.Fatalf("balance %+v (%v), want the café's welcome bonus", b, err)
	}
	var partner coalition.PartnerID
	var location, channel string
	var enrolled time.Time
	if err := s.srv.Pool().QueryRow(context.Background(), `SELECT partner_id, location, channel, enrolled_at FROM self_enrolments WHERE member_id = $1`, m.ID).
		Scan(&partner, &location, &channel, &enrolled); err != nil {
		t.Fatal(err)
	}
	if partner != s.cafe.ID || location != "airport" || channel != "qr" || !enrolled.Equal(joinStart) {
		t.Fatalf("acquisition: partner %v, location %q, channel %q, at %v", partner, location, channel, enrolled)
	}
	var version string
	var consented time.Time
	if err := s.srv.Pool().QueryRow(context.Background(), `SELECT terms_version, consented_at FROM terms_consents WHERE member_id = $1`, m.ID).
		Scan(&version, &consented); err != nil || version != "2026-03" || !consented.Equal(joinStart) {
		t.Fatalf("consent: %q at %v (%v)", version, consented, err)
	}
}

func TestAWrongCodeIsRefusedAndTheSixthAttemptIsTooMany(t *testing.T) {
	s := newJoinSite(t)
	p := s.person()
	p.askCode("/join/cafe", "+79005550123")
	right := s.code("+79005550123")
	wrong := strconv.Itoa(100000 + (mustAtoi(right)+1)%900000)
	for i := 1; i <= 5; i++ {
		r := p.enterCode("cafe", "", wrong)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "That code is not right") || !strings.Contains(r.body, "Attempts left for this code: "+strconv.Itoa(5-i)) && i < 5 {
			t.Fatalf("wrong code, attempt %d: %d\n%s", i, r.status, r.body)
		}
	}
	// The sixth attempt is refused, even with the right code.
	r := p.enterCode("cafe", "", right)
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many attempts, try again later.") {
		t.Fatalf("sixth attempt: %d\n%s", r.status, r.body)
	}
	if _, err := s.member("+79005550123"); err == nil {
		t.Fatal("enrolled after five wrong codes")
	}
	// A new code gets five attempts of its own.
	p.askCode("/join/cafe", "+79005550123")
	if r := p.enterCode("cafe", "", s.code("+79005550123")); r.status != http.StatusSeeOther {
		t.Fatalf("a new code: %d\n%s", r.status, r.body)
	}
	// And a code lapses after ten minutes.
	q := s.person()
	q.askCode("/join/cafe", "+79005550777")
	s.clock.Advance(10 * time.Minute)
	if r := q.enterCode("cafe", "", s.code("+79005550777")); r.status != http.StatusGone || !strings.Contains(r.body, "expired") {
		t.Fatalf("a lapsed code: %d", r.status)
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func TestCodesAreLimitedPerPhoneAndPerClientAddress(t *testing.T) {
	s := newJoinSite(t)
	// Three codes per phone in 15 minutes, whoever asks.
	for i := 1; i <= 3; i++ {
		if pages := s.person().askCode("/join/cafe", "+79005550123"); len(pages) != 3 {
			t.Fatalf("code %d for the phone: %d", i, pages[1].status)
		}
	}
	pages := s.person().askCode("/join/cafe", "+79005550123")
	if last := pages[len(pages)-1]; last.status != http.StatusTooManyRequests || !strings.Contains(last.body, "Too many attempts, try again later.") {
		t.Fatalf("a fourth code for the phone: %d\n%s", last.status, last.body)
	}
	if n := s.sentTo("+79005550123"); n != 3 {
		t.Fatalf("%d codes sent to the phone, want 3", n)
	}
	s.clock.Advance(15*time.Minute + time.Second)
	if pages := s.person().askCode("/join/cafe", "+79005550123"); len(pages) != 3 {
		t.Fatalf("after 15 minutes: %d", pages[1].status)
	}
	// Ten codes per client address in an hour, whatever the phones.
	p := s.person()
	for i := range 10 {
		if pages := p.askCode("/join/cafe", "+7900666"+strconv.Itoa(1000+i)); len(pages) != 3 {
			t.Fatalf("code %d from the address: %d", i+1, pages[1].status)
		}
	}
	pages = p.askCode("/join/cinema", "+79006662000")
	if last := pages[len(pages)-1]; last.status != http.StatusTooManyRequests || !strings.Contains(last.body, "Too many attempts, try again later.") {
		t.Fatalf("an 11th code from the address: %d", last.status)
	}
	if pages := s.person().askCode("/join/cinema", "+79006662000"); len(pages) != 3 {
		t.Fatalf("the same phone from another address: %d", pages[1].status)
	}
	s.clock.Advance(time.Hour)
	if pages := p.askCode("/join/cinema", "+79006663000"); len(pages) != 3 {
		t.Fatalf("the address an hour later: %d", pages[1].status)
	}
}

// csrfRE finds the pages' CSRF tokens, the only bytes allowed to differ
// between two people's pages.
var csrfRE = regexp.MustCompile(`name="csrf" value="[^"]*"`)

func sameBytes(t *testing.T, what string, a, b reply) {
	t.Helper()
	ab, bb := csrfRE.ReplaceAllString(a.body, `name="csrf" value=""`), csrfRE.ReplaceAllString(b.body, `name="csrf" value=""`)
	if a.status != b.status || a.location != b.location || ab != bb {
		t.Fatalf("%s differs: %d %q and %d %q\n%s\n----\n%s", what, a.status, a.location, b.status, b.location, ab, bb)
	}
}

// Someone who is a member already goes through the same pages, byte for
// byte, as a newcomer until the code is right, is sent a code alike, and
// then opens the card they have: no second member, no second bonus.
func TestAnEnrolledPhoneSeesTheSamePagesAndOpensItsOwnCard(t *testing.T) {
	s := newJoinSite(t)
	ctx := context.Background()
	// Enrolled by the cinema (no welcome bonus), with 30 points earned.
	old, err := s.srv.Ledger().Enroll(ctx, s.cinema.ID, ledger.Enrollment{IdempotencyKey: "enrol-1", Phone: "+79005550123"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.srv.Ledger().Accrue(ctx, s.cinema.ID, ledger.Accrual{IdempotencyKey: "buy-1", OrderID: "o-1",
		Member: ledger.MemberRef{ID: old.ID}, Purchase: coalition.Money{Minor: 100000, Currency: "RUB"}}); err != nil {
		t.Fatal(err)
	}
	member, newcomer := s.person(), s.person()
	// The two numbers end alike, so the pages may show the number's end.
	a := member.askCode("/join/cafe?at=airport", "+79005550123")
	b := newcomer.askCode("/join/cafe?at=airport", "+79007770123")
	if len(a) != 3 || len(b) != 3 {
		t.Fatalf("asking for codes: %d and %d pages", len(a), len(b))
	}
	for i, what := range []string{"the form", "sending the code", "the code page"} {
		sameBytes(t, what, a[i], b[i])
	}
	if s.sentTo("+79005550123") != 1 || s.sentTo("+79007770123") != 1 {
		t.Fatal("a code was not sent to both")
	}
	sameBytes(t, "a wrong code", member.enterCode("cafe", "airport", "000000"), newcomer.enterCode("cafe", "airport", "000000"))
	noConsent := url.Values{"code": {"000001"}, "at": {"airport"}}
	sameBytes(t, "no consent", member.post("/join/cafe/code", noConsent), newcomer.post("/join/cafe/code", noConsent))
	// A limit says the same to both too.
	for range 2 {
		member.askCode("/join/cafe?at=airport", "+79005550123")
		newcomer.askCode("/join/cafe?at=airport", "+79007770123")
	}
	a, b = member.askCode("/join/cafe?at=airport", "+79005550123"), newcomer.askCode("/join/cafe?at=airport", "+79007770123")
	sameBytes(t, "the limit", a[len(a)-1], b[len(b)-1])
	if a[len(a)-1].status != http.StatusTooManyRequests {
		t.Fatalf("the limit: %d", a[len(a)-1].status)
	}

	// The right code: the member opens the card they have.
	if r := member.enterCode("cafe", "airport", s.code("+79005550123")); r.status != http.StatusSeeOther || r.location != "/member" {
		t.Fatalf("the member's code: %d\n%s", r.status, r.body)
	}
	card := member.get("/member")
	if card.status != http.StatusOK || !strings.Contains(card.body, old.CardNumber) || !strings.Contains(card.body, `data-points="30"`) {
		t.Fatalf("the member's card page: %d\n%s", card.status, card.body)
	}
	again, err := s.member("+79005550123")
	if err != nil || again.ID != old.ID || again.HomePartnerID != s.cinema.ID {
		t.Fatalf("the member after joining by QR: %+v (%v)", again, err)
	}
	if n := s.count(`SELECT count(*) FROM members`); n != 1 {
		t.Fatalf("%d members, want the one", n)
	}
	if n := s.count(`SELECT count(*) FROM self_enrolments`); n != 0 {
		t.Fatalf("%d self-enrolments recorded for a member the cinema enrolled", n)
	}
	b30, _ := s.srv.Ledger().BalanceOf(ctx, ledger.MemberRef{ID: old.ID})
	if b30.Available != 30 {
		t.Fatalf("balance %d, want 30: no welcome bonus for an old member", b30.Available)
	}
	// The newcomer's right code enrolls them at the café.
	if r := newcomer.enterCode("cafe", "airport", s.code("+79007770123")); r.status != http.StatusSeeOther {
		t.Fatalf("the newcomer's code: %d", r.status)
	}
	if m, err := s.member("+79007770123"); err != nil || m.HomePartnerID != s.cafe.ID {
		t.Fatalf("the newcomer: %+v (%v)", m, err)
	}
}

// Every partner has its poster, linked from the operator's page: the QR
// code of its link, with a point of sale's code if one is asked for.
func TestTheOperatorPrintsAPosterForEachPartnerAndPointOfSale(t *testing.T) {
	s := newJoinSite(t)
	_, secret, err := s.srv.APIKeys().Issue(context.Background(), nil, "operator", "ops")
	if err != nil {
		t.Fatal(err)
	}
	op := s.person()
	op.get("/signin")
	if r := op.post("/signin", url.Values{"credential": {secret}}); r.status != http.StatusSeeOther {
		t.Fatalf("sign in: %d", r.status)
	}
	page := op.get("/operator")
	if page.status != http.StatusOK || !strings.Contains(page.body, `href="/join/cafe/poster"`) || !strings.Contains(page.body, `href="/join/cinema/poster"`) {
		t.Fatalf("the operator's page links no posters: %d", page.status)
	}
	poster := op.get("/join/cafe/poster?at=airport")
	link := s.url + "/join/cafe?at=airport"
	if poster.status != http.StatusOK || !strings.Contains(poster.body, `id="poster-link">`+link+`<`) ||
		!strings.Contains(poster.body, "Coalition Test") || !strings.Contains(poster.body, `<svg class="qr"`) {
		t.Fatalf("the poster: %d\n%s", poster.status, poster.body)
	}
	svg := op.get("/join/cafe/qr.svg?at=airport")
	qr := regexp.MustCompile(`(?s)<svg class="qr".*?</svg>`)
	if svg.status != http.StatusOK || qr.FindString(svg.body) == "" || qr.FindString(svg.body) != qr.FindString(poster.body) {
		t.Fatalf("the QR code's file is not the poster's QR code: %d", svg.status)
	}
	for _, bad := range []string{"/join/nobody/poster", "/join/cafe/poster?at=Air%20Port", "/join/cafe?at=..%2F"} {
		if r := op.get(bad); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", bad, r.status)
		}
	}
}
