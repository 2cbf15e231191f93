package web_test

import (
	"context"
	"crypto/tls"
	"encoding/csv"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// site is the whole coalition as coalitiond serves it: the gRPC server on
// loopback, and the REST API and the web pages in front of it, on a real
// PostgreSQL and a real Vault (which keys the staff credentials' and API
// keys' hashes, and issues the server's certificate).
type site struct {
	t        *testing.T
	url      string
	pool     *pgxpool.Pool
	clock    *clock.Manual
	clearing *clearing.Clearing
	keys     *apikeys.Store
	rules    *rules.Store
	partner  pb.PartnerServiceClient
	n        int
	// vault is the operator's Vault client; srv the server.
	vault *vault.Client
	srv   *servertest.Server
}

// The ledger's day starts at noon in Moscow, so the business day is the UTC
// date; sessions keep real time, because the browser judges cookies by it.
var start = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// newSite starts the site; options change its server's Config first.
func newSite(t *testing.T, options ...func(*server.Config)) *site {
	t.Helper()
	ctx := context.Background()
	vs, operator, creds := servertest.Vault(t)
	pool := pgtest.NewDB(t)
	c := clock.NewManual(start)
	// The public address is known only once the HTTP listener is open.
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		Pool:         pool,
		HTTPListener: hl,
		// As dev mode serves them on loopback: the browser needs no CA.
		HTTPPlaintext: true,
		Vault:         server.VaultConfig{Addr: vs.Addr, RoleID: creds.RoleID, SecretID: creds.SecretID},
		TLSHosts:      []string{"localhost", "127.0.0.1"},
		DevAuth:       true,
		Settings: ledger.Settings{Name: "Test", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100,
			InterchangeFeeBP: 100, IssueFeeBP: 50, BreakageShareBP: 2000},
		Now: c.Now,
	}
	// Partners' admins issue and revoke their certificates in the portal
	// with a credential of the coalition-partner-ca policy.
	ca, err := operator.API().Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"coalition-partner-ca"}, NoParent: true, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.PartnerCA = server.VaultConfig{Token: ca.Auth.ClientToken}
	for _, o := range options {
		o(&cfg)
	}
	if cfg.Wallet.PassTypeID != "" {
		// A site that offers wallet passes has the credentials dev mode
		// makes: a pass type certificate from the coalition's own CA.
		if err := operator.EnsureDevWallet(ctx, cfg.Wallet.PassTypeID, cfg.Wallet.TeamID); err != nil {
			t.Fatal(err)
		}
	}
	srv := servertest.Start(t, cfg)
	for _, p := range []partners.Partner{
		{Code: "cafe", Name: "Coffee Corner", Kind: "café", EarnRateBP: 500, PointsTTLDays: 365},
		{Code: "cinema", Name: "Star Cinema", Kind: "cinema", EarnRateBP: 300, PointsTTLDays: 365},
	} {
		if _, err := srv.Partners().Add(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	s := &site{t: t, url: srv.PublicURL(), pool: pool, clock: c, clearing: srv.Clearing(), keys: srv.APIKeys(), rules: srv.Rules(),
		vault: operator, srv: srv}
	// Partners' tills reach the gRPC server over TLS, with dev credentials
	// from loopback.
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: srv.CAPool(), ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s.partner = pb.NewPartnerServiceClient(conn)
	return s
}

// as is a partner's context for the partner API (dev credentials on
// loopback, as the till of a test partner).
func (s *site) as(code string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	s.t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Dev "+code)
}

func (s *site) key() string {
	s.n++
	return "k" + strconv.Itoa(s.n)
}

func (s *site) enroll(code string) *pb.Member {
	s.t.Helper()
	res, err := s.partner.EnrollMember(s.as(code), &pb.EnrollMemberRequest{IdempotencyKey: s.key()})
	if err != nil {
		s.t.Fatal(err)
	}
	return res.GetMember()
}

func (s *site) accrue(code string, m *pb.Member, minor int64) {
	s.t.Helper()
	_, err := s.partner.Accrue(s.as(code), &pb.AccrueRequest{IdempotencyKey: s.key(), OrderId: s.key(),
		Member: &pb.MemberRef{Ref: &pb.MemberRef_CardNumber{CardNumber: m.GetCardNumber()}}, Purchase: &pb.Money{Minor: minor, Currency: "RUB"}})
	if err != nil {
		s.t.Fatalf("accrue at %s: %v", code, err)
	}
}

func (s *site) redeem(code string, m *pb.Member, points int64) {
	s.t.Helper()
	_, err := s.partner.Redeem(s.as(code), &pb.RedeemRequest{IdempotencyKey: s.key(), OrderId: s.key(),
		Member: &pb.MemberRef{Ref: &pb.MemberRef_CardNumber{CardNumber: m.GetCardNumber()}}, Points: points})
	if err != nil {
		s.t.Fatalf("redeem at %s: %v", code, err)
	}
}

// browser starts headless Chromium (Debian's, or $CHROMIUM) on loopback
// with a fresh profile, and stops it when the test ends.
func browserFor(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(path); err != nil {
		if os.Getenv("COALITION_REQUIRE_BROWSER") != "" {
			t.Fatalf("no Chromium at %s (apt-get install -y chromium, or set $CHROMIUM)", path)
		}
		t.Skipf("no Chromium at %s: apt-get install -y chromium (CI installs it)", path)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// within bounds one browser step, so a page that never shows what is
// expected fails the test instead of hanging it.
func within(t *testing.T, ctx context.Context) context.Context {
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(within(t, ctx), steps...); err != nil {
		t.Fatal(err)
	}
}

// follow clicks what navigates (a link, a form's button) and waits for the
// next page to load; it returns that page's HTTP status.
func follow(t *testing.T, ctx context.Context, sel string) int64 {
	t.Helper()
	resp, err := chromedp.RunResponse(within(t, ctx), chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("follow %s: %v", sel, err)
	}
	return resp.Status
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	v, err := chromedp.Run(within(t, ctx), chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	v, err := chromedp.Run(within(t, ctx), chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil || !v.Exists {
		t.Fatalf("%s[%s]: %v", sel, name, err)
	}
	return v.Value
}

// screenshot saves the page as docs/screenshots/<name>.png when
// COALITION_SCREENSHOTS names the folder (the README shows them).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("COALITION_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(within(t, ctx), chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// openMemberLink asks the member's partner for a one-time link and opens it
// in the browser, as the member would from an SMS.
func (s *site) openMemberLink(ctx context.Context, partner string, m *pb.Member) {
	s.t.Helper()
	link, err := s.partner.IssueMemberLink(s.as(partner), &pb.IssueMemberLinkRequest{
		Member: &pb.MemberRef{Ref: &pb.MemberRef_CardNumber{CardNumber: m.GetCardNumber()}}})
	if err != nil {
		s.t.Fatal(err)
	}
	if !strings.HasPrefix(link.GetUrl(), s.url+"/m/") {
		s.t.Fatalf("link %q does not point at the pages", link.GetUrl())
	}
	do(s.t, ctx, chromedp.Navigate(link.GetUrl()))
	if st := follow(s.t, ctx, "#open"); st != http.StatusOK {
		s.t.Fatalf("opening the member link: HTTP %d", st)
	}
}

func TestMemberSeesTheBalanceChangeAfterAnEarnAtOnePartnerAndASpendAtAnother(t *testing.T) {
	s := newSite(t)
	m := s.enroll("cafe")
	s.accrue("cafe", m, 100000) // 1 000.00 RUB at 5 %: 50 points
	ctx := browserFor(t)
	s.openMemberLink(ctx, "cafe", m)
	if got := attr(t, ctx, "#available .value", "data-points"); got != "50" {
		t.Fatalf("available after the earn = %s, want 50", got)
	}
	if got := text(t, ctx, "#card-number"); got != m.GetCardNumber() {
		t.Fatalf("card number shown = %q, want %q", got, m.GetCardNumber())
	}
	if n, err := chromedp.Run(within(t, ctx), chromedp.Nodes(chromedp.CSS(".qr path"))); err != nil || len(n) != 1 {
		t.Fatalf("QR code: %v", err)
	}
	// The member spends 20 at the cinema and earns again at the café.
	s.redeem("cinema", m, 20)
	s.accrue("cafe", m, 40000) // 20 points
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#history")))
	if got := attr(t, ctx, "#available .value", "data-points"); got != "50" {
		t.Fatalf("available after spending 20 and earning 20 = %s, want 50", got)
	}
	hist := text(t, ctx, "#history tbody")
	if !strings.Contains(hist, "Star Cinema") || !strings.Contains(hist, "−20") {
		t.Fatalf("history does not show the spend at the cinema:\n%s", hist)
	}
	if spend := text(t, ctx, "#spend"); !strings.Contains(spend, "Coffee Corner") || !strings.Contains(spend, "Star Cinema") {
		t.Fatalf("where to spend = %q", spend)
	}
	screenshot(t, ctx, "member")
	// The page in Russian, by the switch.
	do(t, ctx, chromedp.Navigate(s.url+"/member?lang=ru"), chromedp.WaitVisible(chromedp.CSS("#available")))
	if got := text(t, ctx, "#available .label"); got != "Доступно" {
		t.Fatalf("Russian label = %q", got)
	}
	screenshot(t, ctx, "member-ru")
	// A member cannot open the finance pages.
	resp, err := chromedp.Run(within(t, ctx), chromedp.NavigateResponse(s.url+"/finance"))
	if err != nil || resp.Status != http.StatusForbidden {
		t.Fatalf("member opening /finance: %v %v", resp, err)
	}
}

// The member page shows what the points are worth, the locked points and
// what unlocks them, what each bonus was for (a referral's too, which no
// partner gave), the offers open now, and each partner's rate in force.
func TestMemberSeesLockedPointsOffersRatesAndWhatPointsAreWorth(t *testing.T) {
	s := newSite(t)
	film := int64(400) // the cinema's rate raised from 3 % by the rules
	if _, err := s.rules.Put(context.Background(), rules.RuleSet{
		Partners: []rules.PartnerRules{{Partner: "cinema", RateBP: &film}},
		Promotions: []rules.Promotion{{Code: "coffee-film", Name: "Coffee and a film", Starts: start.AddDate(0, 0, -1), Ends: start.AddDate(0, 1, 0),
			Partners: []string{"cafe"}, BonusPoints: 30, FundedBy: "partner", UnlockAt: "cinema"}},
		Referral: &rules.Referral{ReferrerPoints: 100, NewMemberPoints: 50},
	}); err != nil {
		t.Fatal(err)
	}
	a := s.enroll("cafe")
	friend, err := s.partner.EnrollMember(s.as("cinema"), &pb.EnrollMemberRequest{IdempotencyKey: s.key(), ReferralCode: a.GetReferralCode()})
	if err != nil {
		t.Fatal(err)
	}
	s.accrue("cinema", friend.GetMember(), 100000) // the friend's first purchase: the referral pays
	s.accrue("cafe", a, 100000)                    // 50 points, and 30 locked until the cinema
	ctx := browserFor(t)
	s.openMemberLink(ctx, "cafe", a)
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#history")))
	available, _ := strconv.ParseInt(attr(t, ctx, "#available .value", "data-points"), 10, 64)
	if available != 150 {
		t.Fatalf("available = %d, want 50 earned + 100 for the referral", available)
	}
	if got := attr(t, ctx, "#worth", "data-minor"); got != strconv.FormatInt(available*100, 10) {
		t.Errorf("worth = %s minor units, want %d (1 point = 1.00 RUB)", got, available*100)
	}
	if got := attr(t, ctx, "#locked", "data-points"); got != "30" {
		t.Errorf("locked = %q, want 30", got)
	}
	if got := text(t, ctx, "#unlock"); !strings.Contains(got, "30") || !strings.Contains(got, "Star Cinema") {
		t.Errorf("what unlocks the locked points: %q", got)
	}
	if got := text(t, ctx, "#offers"); !strings.Contains(got, "Coffee and a film") || !strings.Contains(got, "Star Cinema") {
		t.Errorf("offers: %q", got)
	}
	if got := text(t, ctx, `#spend li[data-partner="cinema"]`); !strings.Contains(got, "4.00") {
		t.Errorf("the cinema's rate on the page: %q, want the rules' 4.00 %%", got)
	}
	hist := text(t, ctx, "#history tbody")
	for _, want := range []string{"The coalition", "referral bonus: +100", "Coffee and a film: +30"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	screenshot(t, ctx, "member-terms")
}

func TestAMemberLinkOpensOnceAndOnlyForTheMembersOwnPartner(t *testing.T) {
	s := newSite(t)
	m := s.enroll("cafe")
	if _, err := s.partner.IssueMemberLink(s.as("cinema"), &pb.IssueMemberLinkRequest{
		Member: &pb.MemberRef{Ref: &pb.MemberRef_CardNumber{CardNumber: m.GetCardNumber()}}}); err == nil {
		t.Fatal("the cinema issued a link to the café's member")
	}
	link, err := s.partner.IssueMemberLink(s.as("cafe"), &pb.IssueMemberLinkRequest{
		Member: &pb.MemberRef{Ref: &pb.MemberRef_CardNumber{CardNumber: m.GetCardNumber()}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := browserFor(t)
	do(t, ctx, chromedp.Navigate(link.GetUrl()))
	if st := follow(t, ctx, "#open"); st != http.StatusOK {
		t.Fatalf("opening the link: HTTP %d", st)
	}
	// Signed out, the same link no longer opens the page.
	if st := follow(t, ctx, ".top form button"); st != http.StatusOK {
		t.Fatalf("signing out: HTTP %d", st)
	}
	do(t, ctx, chromedp.Navigate(link.GetUrl()))
	if st := follow(t, ctx, "#open"); st != http.StatusGone {
		t.Fatalf("opening a used link: HTTP %d, want 410", st)
	}
	resp, err := chromedp.Run(within(t, ctx), chromedp.NavigateResponse(s.url+"/member"))
	if err != nil || resp.Status != http.StatusUnauthorized {
		t.Fatalf("member page after sign-out with a used link: %v %v", resp, err)
	}
}

// signIn signs staff in with their credential through the sign-in form.
func signIn(t *testing.T, ctx context.Context, url, credential string) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(url+"/signin"), chromedp.SendKeys(chromedp.CSS("#credential"), credential))
	follow(t, ctx, "#signin")
}

// activity makes a business day with flows both ways, closes it and clears
// it; it returns the day.
func (s *site) activity() string {
	a, b := s.enroll("cafe"), s.enroll("cinema")
	s.accrue("cafe", a, 200000)   // 100 points issued by the café
	s.accrue("cinema", b, 100000) // 30 by the cinema
	s.redeem("cinema", a, 60)     // café's points spent at the cinema
	s.redeem("cafe", b, 10)       // cinema's points spent at the café
	s.redeem("cafe", a, 5)        // the café's own points, no money moves
	day := s.clock.Now().Format(time.DateOnly)
	s.clock.Advance(24 * time.Hour)
	if _, err := s.clearing.Run(context.Background(), s.clock.Now().AddDate(0, 0, -1)); err != nil {
		s.t.Fatal(err)
	}
	return day
}

func TestFinanceDownloadsAReportWhoseCSVTotalsMatchTheLedger(t *testing.T) {
	s := newSite(t)
	day := s.activity()
	_, secret, err := s.keys.Issue(context.Background(), nil, "finance", "accounting")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browserFor(t)
	// A wrong credential is refused on the form.
	signIn(t, ctx, s.url, "ck_not-a-credential")
	if !strings.Contains(text(t, ctx, ".alert"), "not valid") {
		t.Fatal("a wrong credential was not refused")
	}
	signIn(t, ctx, s.url, secret)
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#windows")))
	screenshot(t, ctx, "finance")
	if st := follow(t, ctx, `a[data-window="`+day+`"]`); st != http.StatusOK {
		t.Fatalf("report: HTTP %d", st)
	}
	screenshot(t, ctx, "report")
	var netSum int64
	nets, err := chromedp.Run(within(t, ctx), chromedp.AttributesAll(chromedp.CSSAll("#nets td[data-net]")))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range nets {
		n, _ := strconv.ParseInt(a["data-net"], 10, 64)
		netSum += n
	}
	if len(nets) == 0 || netSum != 0 {
		t.Fatalf("net positions on the page: %d parties summing to %d, want several summing to 0", len(nets), netSum)
	}
	// The CSV, downloaded by the browser.
	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(within(t, ctx), browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("#csv")))
	data := downloaded(t, dir, "settlement-"+day+".csv")
	rows, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var burned, cross, issued, flowMinor, feeMinor, nets2 int64
	num := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	for _, r := range rows[1:] {
		switch {
		case r[0] == "flow":
			burned += num(r[5])
			flowMinor += num(r[6])
			if !strings.HasPrefix(r[4], "self_") {
				cross += num(r[5])
			}
		case r[0] == "fee":
			feeMinor += num(r[6])
		case r[0] == "issued" && r[4] == "issued":
			issued += num(r[5])
		case r[0] == "net":
			nets2 += num(r[6])
		}
	}
	// The ledger's own entries for the day.
	var ledgerBurned, ledgerIssued int64
	err = s.pool.QueryRow(context.Background(), `
		SELECT (SELECT COALESCE(SUM(points), 0) FROM lot_consumptions WHERE business_date = $1 AND kind = 'burn'),
		       (SELECT COALESCE(SUM(points), 0) FROM transactions WHERE business_date = $1 AND kind = 'earn')`, day).
		Scan(&ledgerBurned, &ledgerIssued)
	if err != nil {
		t.Fatal(err)
	}
	if burned != ledgerBurned || issued != ledgerIssued || burned != 75 || issued != 130 {
		t.Fatalf("CSV: %d points burned, %d issued; ledger: %d burned, %d issued; want 75 and 130", burned, issued, ledgerBurned, ledgerIssued)
	}
	// Points spent where they were issued move no money; the others move
	// their value (1 point = 1.00 RUB).
	if flowMinor != cross*100 || cross != 70 || nets2 != 0 || feeMinor <= 0 {
		t.Fatalf("CSV money: flows %d for %d points across partners (want 7000 for 70), nets sum %d, fees %d", flowMinor, cross, nets2, feeMinor)
	}
	// Drill down from the first flow to its postings: they add up to it.
	if st := follow(t, ctx, `a[data-line="F1"]`); st != http.StatusOK {
		t.Fatalf("drill-down: HTTP %d", st)
	}
	if got, want := text(t, ctx, "#postings-total"), text(t, ctx, "#line-points"); got != want {
		t.Fatalf("postings add up to %s, the line says %s", got, want)
	}
	screenshot(t, ctx, "drill")
	// Finance cannot open the operator's page.
	resp, err := chromedp.Run(within(t, ctx), chromedp.NavigateResponse(s.url+"/operator"))
	if err != nil || resp.Status != http.StatusForbidden {
		t.Fatalf("finance opening /operator: %v %v", resp, err)
	}
}

func TestAPartnersAPIKeyCannotOpenAnotherPartnersStatement(t *testing.T) {
	s := newSite(t)
	day := s.activity()
	var p coalition.PartnerID
	if err := s.pool.QueryRow(context.Background(), `SELECT id FROM partners WHERE code = 'cafe'`).Scan(&p); err != nil {
		t.Fatal(err)
	}
	_, secret, err := s.keys.Issue(context.Background(), &p, "partner", "web-shop")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browserFor(t)
	if _, err := chromedp.Call(within(t, ctx), network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(within(t, ctx), network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Bearer " + secret}}); err != nil {
		t.Fatal(err)
	}
	own, err := chromedp.Run(within(t, ctx), chromedp.NavigateResponse(s.url+"/v1/settlement/windows/"+day+"/statements/cafe"))
	if err != nil || own.Status != http.StatusOK {
		t.Fatalf("the café's own statement: %v %v", own, err)
	}
	if body := text(t, ctx, "body"); !strings.Contains(body, `"business_date":"`+day+`"`) {
		t.Fatalf("own statement body: %s", body)
	}
	other, err := chromedp.Run(within(t, ctx), chromedp.NavigateResponse(s.url+"/v1/settlement/windows/"+day+"/statements/cinema"))
	if err != nil || other.Status != http.StatusForbidden {
		t.Fatalf("the cinema's statement with the café's key: %v %v", other, err)
	}
	if body := text(t, ctx, "body"); !strings.Contains(body, `"code":7`) {
		t.Fatalf("refusal body: %s", body)
	}
}

func TestOperatorSeesPartnersAndNetworkFigures(t *testing.T) {
	s := newSite(t)
	s.activity()
	_, secret, err := s.keys.Issue(context.Background(), nil, "operator", "ops")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browserFor(t)
	signIn(t, ctx, s.url, secret)
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#partners")))
	if got := text(t, ctx, "#active-members"); got != "2" {
		t.Fatalf("active members = %q, want 2", got)
	}
	// 70 of 75 points burned away from their issuer: 93.33 %.
	if got := text(t, ctx, "#cross-share"); !strings.HasPrefix(got, "93.33") {
		t.Fatalf("share burned at another partner = %q", got)
	}
	// The café issued 100 and 65 of them were spent: 35 outstanding.
	if got := text(t, ctx, `tr[data-partner="cafe"] td:nth-of-type(4)`); got != "35" {
		t.Fatalf("café's outstanding points = %q, want 35", got)
	}
	// The rules in force: none stored yet, so each partner's onboarding rate.
	if got := text(t, ctx, "#rules-version"); got != "0" {
		t.Fatalf("rule set version shown = %q, want 0", got)
	}
	screenshot(t, ctx, "operator")
	// The rules raise the cinema's rate: the page shows the rate in force,
	// not the one the cinema was registered with.
	raised := int64(450)
	if _, err := s.rules.Put(context.Background(), rules.RuleSet{Partners: []rules.PartnerRules{{Partner: "cinema", RateBP: &raised}}}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#partners")))
	if got := text(t, ctx, "#rules tbody"); !strings.Contains(got, "4.50") || strings.Contains(got, "3.00") {
		t.Fatalf("base earn rates after the rules raised the cinema's: %q", got)
	}
}
