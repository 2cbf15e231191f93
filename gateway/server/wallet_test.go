package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/passes"
	"github.com/coalition-loyalty/coalition/coalition/passes/passestest"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/coalition/wallet/googlewallet"
	"github.com/coalition-loyalty/coalition/gateway/rest"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
)

const (
	walletPassType = "pass.org.coalition.test"
	walletTeam     = "TEAM000001"
	walletIssuer   = "3388000000012345678"
	apnsKeyID      = "KEY0000001"
	devicePush     = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
)

// walletSite is a server with every wallet credential in its Vault, its
// pushes going to an APNs stand-in and its Google calls to a Google
// stand-in, and a member signed in to the web pages.
type walletSite struct {
	t       *testing.T
	ctx     context.Context
	srv     *servertest.Server
	clock   *clock.Manual
	apns    *passestest.APNs
	apnsKey *ecdsa.PrivateKey
	google  *passestest.Google
	client  *http.Client
	base    string
	cafe    partners.Partner
	member  ledger.Member
	cookie  *http.Cookie
	csrf    string
	keys    int
}

func newWalletSite(t *testing.T) *walletSite {
	t.Helper()
	ctx := context.Background()
	vs, operator, creds := servertest.Vault(t)
	// The operator stores what Apple and Google issue: here a pass type
	// certificate from the coalition's CA (as dev mode makes), an APNs key
	// and a service account of the test's own.
	if err := operator.EnsureDevWallet(ctx, walletPassType, walletTeam); err != nil {
		t.Fatal(err)
	}
	w := &walletSite{t: t, ctx: ctx, clock: clock.NewManual(time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)),
		apns: passestest.NewAPNs(t), google: passestest.NewGoogle(t)}
	var err error
	if w.apnsKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(w.apnsKey)
	if err := operator.PutAPNsKey(ctx, vault.APNsKey{KeyP8: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		KeyID: apnsKeyID, TeamID: walletTeam}); err != nil {
		t.Fatal(err)
	}
	saKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	saDER, _ := x509.MarshalPKCS8PrivateKey(saKey)
	saJSON, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "wallet@test.iam.gserviceaccount.com",
		"private_key_id": "k1", "private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: saDER}))})
	if err := operator.PutGoogleWallet(ctx, vault.GoogleWallet{ServiceAccountJSON: string(saJSON), IssuerID: walletIssuer}); err != nil {
		t.Fatal(err)
	}
	w.srv = servertest.Start(t, server.Config{
		Pool: pgtest.NewDB(t), HTTPAddr: "127.0.0.1:0",
		Vault:    server.VaultConfig{Addr: vs.Addr, RoleID: creds.RoleID, SecretID: creds.SecretID},
		TLSHosts: []string{"localhost", "127.0.0.1"}, Settings: settings, Now: w.clock.Now,
		Wallet: server.WalletConfig{PassTypeID: walletPassType, TeamID: walletTeam,
			APNsURL: w.apns.Server.URL, APNsHTTPClient: w.apns.Client(),
			GoogleAPIURL: w.google.APIURL(), GoogleTokenURL: w.google.TokenURL(),
			OutboxInterval: -1}, // the test runs the worker itself
	})
	if w.srv.Passes() == nil {
		t.Fatal("the server offers no wallet passes")
	}
	w.base = w.srv.PublicURL()
	w.client = &http.Client{Timeout: 30 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.srv.CAPool(), ServerName: "localhost"}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// A coalition with tiers, a café, and a member of the café signed in.
	if _, err := w.srv.Rules().Put(ctx, rules.RuleSet{Tiers: &rules.Tiers{PeriodDays: 365, Levels: []rules.Tier{
		{Code: "silver", Name: "Silver", ThresholdMinor: 1000_00, MultiplierBP: 10_000},
		{Code: "gold", Name: "Gold", ThresholdMinor: 1_000_000_00, MultiplierBP: 15_000}}}}); err != nil {
		t.Fatal(err)
	}
	if w.cafe, err = w.srv.Partners().Add(ctx, partners.Partner{Code: "cafe", Name: "Coffee Corner", Kind: "cafe", EarnRateBP: 500, PointsTTLDays: 365}); err != nil {
		t.Fatal(err)
	}
	if w.member, err = w.srv.Ledger().Enroll(ctx, w.cafe.ID, ledger.Enrollment{IdempotencyKey: "enrol"}); err != nil {
		t.Fatal(err)
	}
	code, _, err := w.srv.Sessions().IssueMemberLink(ctx, w.cafe.ID, w.member.ID, w.cafe.ID)
	if err != nil {
		t.Fatal(err)
	}
	sess, tok, err := w.srv.Sessions().OpenMemberLink(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	w.cookie, w.csrf = &http.Cookie{Name: rest.SessionCookie, Value: tok}, sess.CSRF
	return w
}

// do sends a request; member requests carry the session cookie, pass
// requests an ApplePass token.
func (w *walletSite) do(method, path string, body io.Reader, header map[string]string) (*http.Response, []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.base+path, body)
	if err != nil {
		w.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if strings.HasPrefix(path, "/member") {
		req.AddCookie(w.cookie)
	}
	res, err := w.client.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func applePass(token string) map[string]string {
	return map[string]string{"Authorization": "ApplePass " + token}
}

func (w *walletSite) accrue(minor int64) ledger.Transaction {
	w.t.Helper()
	w.keys++
	key := fmt.Sprintf("order-%d", w.keys)
	res, err := w.srv.Ledger().Accrue(w.ctx, w.cafe.ID, ledger.Accrual{IdempotencyKey: key, OrderID: key,
		Member: ledger.MemberRef{ID: w.member.ID}, Purchase: coalition.Money{Minor: minor, Currency: "RUB"}})
	if err != nil {
		w.t.Fatal(err)
	}
	return res.Transaction
}

// earned is the earn's event, which the posting wrote to the outbox with
// the earn, once delivered by the worker.
func (w *walletSite) earned(t ledger.Transaction) passes.Event {
	w.t.Helper()
	e := passes.Event{ID: t.ID, Member: t.MemberID, Kind: passes.KindEarned, Message: passes.EarnedMessage(t.Points, "Coffee Corner"), At: t.CreatedAt}
	var kind, message string
	if err := w.srv.Tx().Pool().QueryRow(w.ctx, `SELECT kind, message FROM pass_outbox WHERE event_id = $1`, t.ID).Scan(&kind, &message); err != nil ||
		kind != string(e.Kind) || message != e.Message {
		w.t.Fatalf("the earn's event in the outbox: %q %q (%v), want %q %q", kind, message, err, e.Kind, e.Message)
	}
	if n, err := w.srv.Passes().Deliver(w.ctx, 100); err != nil || n != 1 {
		w.t.Fatalf("the worker delivered %d events (%v), want 1", n, err)
	}
	return e
}

type pkpassFile struct {
	SerialNumber        string `json:"serialNumber"`
	PassTypeIdentifier  string `json:"passTypeIdentifier"`
	WebServiceURL       string `json:"webServiceURL"`
	AuthenticationToken string `json:"authenticationToken"`
	Barcodes            []struct {
		Message string `json:"message"`
	} `json:"barcodes"`
	StoreCard struct {
		PrimaryFields, SecondaryFields []struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
		}
	} `json:"storeCard"`
}

// openPass unzips a .pkpass, checks its manifest as Wallet does, and
// returns its pass.json.
func openPass(t *testing.T, archive []byte) pkpassFile {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		t.Fatalf("the pass does not unzip: %v", err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	var manifest map[string]string
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	for name, data := range files {
		if name == "manifest.json" || name == "signature" {
			continue
		}
		sum := sha1.Sum(data)
		if manifest[name] != hex.EncodeToString(sum[:]) {
			t.Fatalf("manifest digest of %s is %q, the file's is %x", name, manifest[name], sum)
		}
	}
	if len(manifest) != len(files)-2 || files["signature"] == nil {
		t.Fatalf("the manifest lists %d files of %d, signature %d bytes", len(manifest), len(files)-2, len(files["signature"]))
	}
	var p pkpassFile
	if err := json.Unmarshal(files["pass.json"], &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p pkpassFile) field(key string) string {
	for _, f := range append(p.StoreCard.PrimaryFields, p.StoreCard.SecondaryFields...) {
		if f.Key == key {
			return strings.Trim(string(f.Value), `"`)
		}
	}
	return ""
}

var (
	pageAvailable = regexp.MustCompile(`id="available">[^<]*<span class="label">[^<]*</span>\s*<span class="value" data-points="(\d+)"`)
	pageTier      = regexp.MustCompile(`<p class="tier" id="tier">([^<]*)</p>`)
)

// The PassKit web service end to end over HTTPS against a running server,
// as a device uses it, with the member's pass downloaded from the member
// page and updates delivered to APNs and Google stand-ins.
func TestTheWalletPassGoesFromTheMemberPageToTheDeviceAndStaysCurrent(t *testing.T) {
	w := newWalletSite(t)
	w.accrue(15000_00) // 750 points and Silver

	res, page := w.do("GET", "/member", nil, nil)
	if res.StatusCode != 200 || !bytes.Contains(page, []byte(`href="/member/pass.pkpass"`)) || !bytes.Contains(page, []byte(`href="/member/google-wallet"`)) ||
		!bytes.Contains(page, []byte("Add to Apple Wallet")) || !bytes.Contains(page, []byte("Save to Google Wallet")) {
		t.Fatalf("member page %d without the wallet buttons:\n%s", res.StatusCode, page)
	}

	// Download: the pass shows the page's numbers and the page's QR.
	res, archive := w.do("GET", "/member/pass.pkpass", nil, nil)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/vnd.apple.pkpass" {
		t.Fatalf("download = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	p := openPass(t, archive)
	avail, tier := pageAvailable.FindSubmatch(page), pageTier.FindSubmatch(page)
	if avail == nil || tier == nil {
		t.Fatalf("the member page shows no balance or tier:\n%s", page)
	}
	if p.field("balance") != string(avail[1]) || p.field("tier") != string(tier[1]) || p.field("balance") != "750" || p.field("tier") != "Silver" {
		t.Fatalf("pass: balance %s, tier %s; page: %s, %s", p.field("balance"), p.field("tier"), avail[1], tier[1])
	}
	if p.PassTypeIdentifier != walletPassType || p.WebServiceURL != w.base+"/wallet/apple" || p.Barcodes[0].Message != w.member.QRToken {
		t.Fatalf("pass = %+v", p)
	}
	serial, token := p.SerialNumber, p.AuthenticationToken
	if res, _ := w.do("GET", "/member/pass.pkpass", nil, nil); res.StatusCode != 200 {
		t.Fatalf("second download = %d", res.StatusCode)
	}

	// Google: the save link, after the object is inserted.
	res, _ = w.do("GET", "/member/google-wallet", nil, nil)
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, googlewallet.SaveURLPrefix) {
		t.Fatalf("google wallet = %d, Location %q", res.StatusCode, loc)
	}
	objectID := walletIssuer + "." + w.member.ID.String()
	if o, ok := w.google.Object(objectID); !ok || o.AccountID != w.member.CardNumber || o.Barcode.Value != w.member.QRToken {
		t.Fatalf("google object %s = %+v %v", objectID, o, ok)
	}

	// The device registers with the pass's token, and only with it.
	reg := "/wallet/apple/v1/devices/device-1/registrations/" + walletPassType + "/" + serial
	body := func() io.Reader { return strings.NewReader(`{"pushToken":"` + devicePush + `"}`) }
	if res, _ := w.do("POST", reg, body(), applePass("a-wrong-token-0123456789")); res.StatusCode != 401 {
		t.Fatalf("register with a wrong token = %d, want 401", res.StatusCode)
	}
	if res, _ := w.do("POST", reg, body(), applePass(token)); res.StatusCode != 201 {
		t.Fatalf("register = %d, want 201", res.StatusCode)
	}
	if res, _ := w.do("POST", reg, body(), applePass(token)); res.StatusCode != 200 {
		t.Fatalf("register again = %d, want 200", res.StatusCode)
	}
	serials := "/wallet/apple/v1/devices/device-1/registrations/" + walletPassType
	var first passes.Updated
	res, b := w.do("GET", serials, nil, nil)
	if res.StatusCode != 200 || json.Unmarshal(b, &first) != nil || len(first.SerialNumbers) != 1 || first.LastUpdated == "" {
		t.Fatalf("serials = %d %s", res.StatusCode, b)
	}
	res, _ = w.do("GET", "/wallet/apple/v1/passes/"+walletPassType+"/"+serial, nil, applePass(token))
	lastModified := res.Header.Get("Last-Modified")

	// A purchase: its event reaches APNs and Google.
	w.clock.Advance(time.Minute)
	e := w.earned(w.accrue(4000_00)) // +200
	pushes := w.apns.Pushes()
	if len(pushes) != 1 || pushes[0].Proto != 2 || pushes[0].DeviceToken != devicePush || pushes[0].Topic != walletPassType {
		t.Fatalf("APNs pushes = %+v", pushes)
	}
	if err := passestest.VerifyProviderToken(pushes[0].Authorization, &w.apnsKey.PublicKey, apnsKeyID, walletTeam); err != nil {
		t.Fatalf("APNs provider token: %v", err)
	}
	if ps := w.google.Patches(); len(ps) != 1 || *ps[0].LoyaltyPoints.Balance.Int != 950 {
		t.Fatalf("google patches = %+v", ps)
	}
	if ms := w.google.Messages(objectID); len(ms) != 1 || ms[0].ID != e.ID.String() || ms[0].Body != "+200 points at Coffee Corner" {
		t.Fatalf("google messages = %+v", ms)
	}

	// The woken device asks what changed and fetches the latest pass.
	var next passes.Updated
	res, b = w.do("GET", serials+"?passesUpdatedSince="+url.QueryEscape(first.LastUpdated), nil, nil)
	if res.StatusCode != 200 || json.Unmarshal(b, &next) != nil || len(next.SerialNumbers) != 1 || next.SerialNumbers[0] != serial {
		t.Fatalf("serials since %s = %d %s", first.LastUpdated, res.StatusCode, b)
	}
	if res, _ := w.do("GET", serials+"?passesUpdatedSince="+next.LastUpdated, nil, nil); res.StatusCode != 204 {
		t.Fatalf("serials since the latest tag = %d, want 204", res.StatusCode)
	}
	latestPath := "/wallet/apple/v1/passes/" + walletPassType + "/" + serial
	res, archive = w.do("GET", latestPath, nil, map[string]string{"Authorization": "ApplePass " + token, "If-Modified-Since": lastModified})
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/vnd.apple.pkpass" || res.Header.Get("Last-Modified") == lastModified {
		t.Fatalf("latest pass since %s = %d %s, Last-Modified %s", lastModified, res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Last-Modified"))
	}
	if latest := openPass(t, archive); latest.field("balance") != "950" || latest.AuthenticationToken != token {
		t.Fatalf("latest pass: balance %s", latest.field("balance"))
	}
	if res, _ := w.do("GET", latestPath, nil, map[string]string{"Authorization": "ApplePass " + token, "If-Modified-Since": res.Header.Get("Last-Modified")}); res.StatusCode != 304 {
		t.Fatalf("latest pass if modified since its Last-Modified = %d, want 304", res.StatusCode)
	}
	if res, _ := w.do("GET", latestPath, nil, applePass("a-wrong-token-0123456789")); res.StatusCode != 401 {
		t.Fatalf("latest pass with a wrong token = %d, want 401", res.StatusCode)
	}
	if res, _ := w.do("POST", "/wallet/apple/v1/log", strings.NewReader(`{"logs":["Could not fetch"]}`), nil); res.StatusCode != 200 {
		t.Fatalf("log = %d", res.StatusCode)
	}

	// Unregistered, the device hears of nothing more.
	if res, _ := w.do("DELETE", reg, nil, applePass("a-wrong-token-0123456789")); res.StatusCode != 401 {
		t.Fatalf("unregister with a wrong token = %d, want 401", res.StatusCode)
	}
	if res, _ := w.do("DELETE", reg, nil, applePass(token)); res.StatusCode != 200 {
		t.Fatalf("unregister = %d", res.StatusCode)
	}
	if res, _ := w.do("GET", serials, nil, nil); res.StatusCode != 204 {
		t.Fatalf("serials after unregistering = %d, want 204", res.StatusCode)
	}
}

// The member turns messages off from the member page: the pass is still
// brought up to date on Google, without a message.
func TestTheMemberPageTurnsPassMessagesOff(t *testing.T) {
	w := newWalletSite(t)
	if res, _ := w.do("GET", "/member/google-wallet", nil, nil); res.StatusCode != http.StatusFound {
		t.Fatalf("google wallet = %d", res.StatusCode)
	}
	form := func(csrf string) io.Reader {
		return strings.NewReader(url.Values{"csrf": {csrf}, "notifications": {"off"}}.Encode())
	}
	ct := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if res, _ := w.do("POST", "/member/pass-notifications", form("stale"), ct); res.StatusCode != http.StatusForbidden {
		t.Fatalf("switch without the session's CSRF token = %d, want 403", res.StatusCode)
	}
	if res, _ := w.do("POST", "/member/pass-notifications", form(w.csrf), ct); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("switch = %d, want 303", res.StatusCode)
	}
	if _, page := w.do("GET", "/member", nil, nil); !bytes.Contains(page, []byte("Turn messages on")) {
		t.Fatalf("the member page does not offer to turn messages back on:\n%s", page)
	}
	w.earned(w.accrue(4000_00))
	objectID := walletIssuer + "." + w.member.ID.String()
	if ps, ms := w.google.Patches(), w.google.Messages(objectID); len(ps) != 1 || len(ms) != 0 {
		t.Fatalf("google: %d patches, %d messages; want the patch only", len(ps), len(ms))
	}
}
