package passes_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"log/slog"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/passes"
	"github.com/coalition-loyalty/coalition/coalition/passes/membercard"
	"github.com/coalition-loyalty/coalition/coalition/passes/passestest"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/coalition/wallet/apns"
	"github.com/coalition-loyalty/coalition/coalition/wallet/googlewallet"
	"github.com/coalition-loyalty/coalition/coalition/wallet/pkpass"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	passType = "pass.org.coalition.test"
	team     = "TEAM000001"
	issuer   = "3388000000012345678"
	apnsKey  = "KEY0000001"
	// Device push tokens are hex.
	pushToken = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
)

// start is noon in Moscow.
var start = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// world is a coalition of one partner and one member with a pass, on a
// fresh database and a clock the test moves, with the passes talking to
// stand-ins of APNs and Google.
type world struct {
	t      *testing.T
	ctx    context.Context
	clock  *clock.Manual
	tx     *txn.Runner
	ledger *ledger.Ledger
	cafe   partners.Partner
	member ledger.Member
	apns   *passestest.APNs
	push   *ecdsa.PrivateKey
	google *passestest.Google
	cfg    passes.Config
	passes *passes.Service
	offers *offers.Store
	keys   int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	tx, err := txn.New(ctx, pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, clock: clock.NewManual(start), tx: tx}
	hasher, _ := phone.NewHMAC([]byte("test-only phone hash key, 32+ bytes long"))
	w.ledger = ledger.New(ledger.Config{Tx: tx, Clock: w.clock.Now, Phones: hasher, PassEvents: true, Rules: rules.NewStore(rules.StoreConfig{Tx: tx, Clock: w.clock.Now})})
	if err := w.ledger.Bootstrap(ctx, ledger.Settings{Name: "Coalition", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100}); err != nil {
		t.Fatal(err)
	}
	reg := partners.New(partners.Config{Tx: tx, Clock: w.clock.Now})
	// The café's points expire after 30 days and are spendable at once.
	if w.cafe, err = reg.Add(ctx, partners.Partner{Code: "cafe", Name: "Coffee Corner", Kind: "cafe", EarnRateBP: 500, PointsTTLDays: 30}); err != nil {
		t.Fatal(err)
	}
	if w.member, err = w.ledger.Enroll(ctx, w.cafe.ID, ledger.Enrollment{IdempotencyKey: w.key()}); err != nil {
		t.Fatal(err)
	}
	w.apns = passestest.NewAPNs(t)
	w.google = passestest.NewGoogle(t)
	if w.push, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	pusher, err := apns.New(apns.Config{BaseURL: w.apns.Server.URL, HTTPClient: w.apns.Client(), TeamID: team, KeyID: apnsKey,
		Key: w.push, Topic: passType, Clock: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sa := googlewallet.ServiceAccount{Email: "wallet@test.iam.gserviceaccount.com", KeyID: "k1", Key: saKey}
	api, err := googlewallet.New(googlewallet.Config{BaseURL: w.google.APIURL(), TokenURL: w.google.TokenURL(), Account: sa, Clock: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	w.offers = offers.New(offers.Config{Tx: tx, Clock: w.clock.Now})
	w.cfg = passes.Config{
		Tx: tx, Cards: membercard.Source{Ledger: w.ledger, Partners: reg, Offers: w.offers},
		Apple: &passes.Apple{Builder: builder(t, w.clock.Now), PassTypeIdentifier: passType,
			WebServiceURL: "https://coalition.test/wallet/apple", Push: pusher},
		Google: &passes.Google{Program: googlewallet.Program{IssuerID: issuer, ClassSuffix: "loyalty", IssuerName: "Coalition",
			ProgramName: "Coalition", LogoURL: "https://coalition.test/wallet/logo.png"}, Account: sa, API: api},
		Branding: passes.Branding{Name: "Coalition", Foreground: pkpass.RGB{R: 255, G: 255, B: 255}, Background: pkpass.RGB{R: 22, G: 55, B: 110}},
		Zone:     time.FixedZone("MSK", 3*3600), Clock: w.clock.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	w.passes = w.service(w.cfg)
	return w
}

func (w *world) service(cfg passes.Config) *passes.Service {
	w.t.Helper()
	s, err := passes.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *world) key() string {
	w.keys++
	return "key-" + strconv.Itoa(w.keys)
}

// accrue posts a purchase at the café (5 % back) and returns the earn.
func (w *world) accrue(minor int64) ledger.Transaction {
	w.t.Helper()
	res, err := w.ledger.Accrue(w.ctx, w.cafe.ID, ledger.Accrual{IdempotencyKey: w.key(), OrderID: w.key(),
		Member: ledger.MemberRef{ID: w.member.ID}, Purchase: coalition.Money{Minor: minor, Currency: "RUB"}})
	if err != nil {
		w.t.Fatal(err)
	}
	return res.Transaction
}

// enqueue writes the events as a posting would: in a transaction of its own.
func (w *world) enqueue(events ...passes.Event) int64 {
	w.t.Helper()
	var n int64
	if err := w.tx.Write(w.ctx, func(tx pgx.Tx) (err error) {
		n, err = passes.Enqueue(w.ctx, tx, events)
		return err
	}); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// earned is the event of an earn, as the ledger's hook writes it.
func (w *world) earned(t ledger.Transaction) passes.Event {
	return passes.Event{ID: t.ID, Member: t.MemberID, Kind: passes.KindEarned, Message: passes.EarnedMessage(t.Points, "Coffee Corner"), At: t.CreatedAt}
}

// withPass gives the member a pass in both wallets and a device that
// registered it.
func (w *world) withPass() (serial, token string) {
	w.t.Helper()
	if _, err := w.passes.GoogleSaveLink(w.ctx, w.member.ID); err != nil {
		w.t.Fatal(err)
	}
	files := unzip(w.t, w.memberPass())
	serial, token = passJSON(w.t, files).SerialNumber, passJSON(w.t, files).AuthenticationToken
	if _, err := w.passes.Register(w.ctx, "device-1", passType, serial, token, pushToken); err != nil {
		w.t.Fatal(err)
	}
	return serial, token
}

func (w *world) memberPass() []byte {
	w.t.Helper()
	b, err := w.passes.MemberPass(w.ctx, w.member.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

func (w *world) deliver() int {
	w.t.Helper()
	n, err := w.passes.Deliver(w.ctx, 100)
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

func (w *world) objectID() string { return issuer + "." + w.member.ID.String() }

// outbox reads an event's row.
type outboxRow struct {
	delivered bool
	attempts  int
	next      time.Time
	lastError string
}

func (w *world) outbox(id uuid.UUID) outboxRow {
	w.t.Helper()
	var r outboxRow
	if err := w.tx.Pool().QueryRow(w.ctx, `
		SELECT delivered_at IS NOT NULL, attempts, next_attempt_at, last_error FROM pass_outbox WHERE event_id = $1`, id).
		Scan(&r.delivered, &r.attempts, &r.next, &r.lastError); err != nil {
		w.t.Fatal(err)
	}
	r.next = r.next.UTC()
	return r
}

func (w *world) count(query string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.tx.Pool().QueryRow(w.ctx, query, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// builder signs passes with a pass type certificate from a test CA that
// stands in for Apple's WWDR intermediate.
func builder(t *testing.T, now func() time.Time) *pkpass.Builder {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test WWDR"},
		NotBefore: start.AddDate(-1, 0, 0), NotAfter: start.AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: start.AddDate(0, -1, 0), NotAfter: start.AddDate(1, 0, 0),
		Subject: pkix.Name{CommonName: "Pass Type ID: " + passType, OrganizationalUnit: []string{team},
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: passType}}},
		KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	b, err := pkpass.NewBuilder(pkpass.Config{PassTypeIdentifier: passType, TeamIdentifier: team, Certificate: leaf, Key: key, WWDR: ca, Clock: now})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
