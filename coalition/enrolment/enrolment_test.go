package enrolment_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/enrolment"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/coalition/sessions"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// start is noon in Moscow, so the business day is the UTC date.
var start = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// outbox is a sender that keeps what it sent.
type outbox struct {
	mu   sync.Mutex
	sent []sent
}

type sent struct{ to, text string }

func (o *outbox) Send(_ context.Context, to, text string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, sent{to, text})
	return nil
}

var codeRE = regexp.MustCompile(`\b[0-9]{6}\b`)

// last is the code last sent to to.
func (o *outbox) last(t *testing.T, to string) string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.sent) - 1; i >= 0; i-- {
		if o.sent[i].to == to {
			return codeRE.FindString(o.sent[i].text)
		}
	}
	t.Fatalf("no code sent to %s", to)
	return ""
}

// world is a coalition of a café (welcome bonus 100) and a cinema, with
// self-enrolment asking for kind of contact.
type world struct {
	t      *testing.T
	ctx    context.Context
	clock  *clock.Manual
	tx     *txn.Runner
	hasher phone.Hasher
	ledger *ledger.Ledger
	reg    *partners.Register
	out    *outbox
	svc    *enrolment.Service
	cafe   enrolment.Point
	cinema enrolment.Point
}

func newWorld(t *testing.T, kind enrolment.ContactKind) *world {
	t.Helper()
	ctx := context.Background()
	tx, err := txn.New(ctx, pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, clock: clock.NewManual(start), tx: tx, out: &outbox{}}
	w.hasher, _ = phone.NewHMAC([]byte("test-only phone hash key, 32+ bytes long"))
	rs := rules.NewStore(rules.StoreConfig{Tx: tx, Clock: w.clock.Now})
	w.ledger = ledger.New(ledger.Config{Tx: tx, Clock: w.clock.Now, Phones: w.hasher, Rules: rs})
	if err := w.ledger.Bootstrap(ctx, ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100}); err != nil {
		t.Fatal(err)
	}
	w.reg = partners.New(partners.Config{Tx: tx, Clock: w.clock.Now})
	for _, p := range []partners.Partner{{Code: "cafe", Name: "Coffee Corner", Kind: "café", EarnRateBP: 500, PointsTTLDays: 365},
		{Code: "cinema", Name: "Star Cinema", Kind: "cinema", EarnRateBP: 300, PointsTTLDays: 365}} {
		if _, err := w.reg.Add(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rs.Put(ctx, rules.RuleSet{Partners: []rules.PartnerRules{{Partner: "cafe", WelcomePoints: 100}}}); err != nil {
		t.Fatal(err)
	}
	w.svc = enrolment.New(enrolment.Config{Tx: tx, Hasher: w.hasher, Sender: w.out, Ledger: w.ledger, Partners: w.reg,
		Sessions: sessions.New(sessions.Config{Tx: tx, Clock: w.clock.Now}), Contact: kind, TermsVersion: "2026-03",
		Clock: w.clock.Now})
	if w.cafe, err = w.svc.Point(ctx, "cafe", "airport"); err != nil {
		t.Fatal(err)
	}
	if w.cinema, err = w.svc.Point(ctx, "cinema", ""); err != nil {
		t.Fatal(err)
	}
	return w
}

var client = netip.MustParseAddr("203.0.113.7")

func message(code string) string { return code + " is your T code." }

func (w *world) start(pt enrolment.Point, contact string) enrolment.Challenge {
	w.t.Helper()
	ch, err := w.svc.Start(w.ctx, enrolment.Request{Point: pt, Contact: contact, Client: client, Message: message})
	if err != nil {
		w.t.Fatalf("start %s: %v", contact, err)
	}
	return ch
}

// join asks for a code and types it back with consent.
func (w *world) join(pt enrolment.Point, contact string) enrolment.Result {
	w.t.Helper()
	ch := w.start(pt, contact)
	res, err := w.svc.Verify(w.ctx, enrolment.Verification{Token: ch.Token, Contact: ch.Contact, Code: w.out.last(w.t, ch.Contact), Consent: true})
	if err != nil {
		w.t.Fatalf("verify %s: %v", contact, err)
	}
	return res
}

func (w *world) members() int {
	w.t.Helper()
	var n int
	if err := w.tx.Pool().QueryRow(w.ctx, `SELECT count(*) FROM members`).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

func TestNumbersAreReadAsPeopleTypeThem(t *testing.T) {
	for typed, want := range map[string]string{
		"+7 900 123-45-67":         "+79001234567",
		" +7 (900) 123 45 67":      "+79001234567",
		"0079001234567":            "+79001234567",
		"+44 20.7946.0000":         "+442079460000",
		"+7\u00a0900\u00a01234567": "+79001234567",
	} {
		if got, err := enrolment.Normalize(enrolment.Phone, typed); err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", typed, got, err, want)
		}
	}
	for _, typed := range []string{"", "89001234567", "+0 900 123", "+7900", "+7 900 123 45 67 89 01 2", "+7900abc4567", "tel:+79001234567"} {
		if got, err := enrolment.Normalize(enrolment.Phone, typed); !errors.Is(err, enrolment.ErrContact) {
			t.Errorf("Normalize(%q) = %q, %v; want refused", typed, got, err)
		}
	}
	if got, err := enrolment.Normalize(enrolment.Email, " Anna@Example.COM "); err != nil || got != "anna@example.com" {
		t.Errorf("e-mail: %q, %v", got, err)
	}
	for _, typed := range []string{"anna", "Anna <anna@example.com>", "anna@example.com, bob@example.com", "\"a b\"@example.com", "anna@example.com\r\nBcc: x@example.com"} {
		if got, err := enrolment.Normalize(enrolment.Email, typed); !errors.Is(err, enrolment.ErrContact) {
			t.Errorf("Normalize(email, %q) = %q, %v; want refused", typed, got, err)
		}
	}
}

func TestAnIPv6NetworkCountsAsOneClient(t *testing.T) {
	for a, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"::ffff:203.0.113.7":   "203.0.113.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
	} {
		if got := enrolment.ClientKey(netip.MustParseAddr(a)); got != want {
			t.Errorf("ClientKey(%s) = %s, want %s", a, got, want)
		}
	}
	if got := enrolment.ClientKey(netip.Addr{}); got != "unknown" {
		t.Errorf("no address: %s", got)
	}
}

func TestOnlyActivePartnersAndWellFormedPointsOfSaleEnrol(t *testing.T) {
	w := newWorld(t, enrolment.Phone)
	if err := w.reg.SetStatus(w.ctx, "cinema", "suspended"); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{{"cinema", ""}, {"nobody", ""}, {"cafe", "Airport"}, {"cafe", "air port"}, {"cafe", strings.Repeat("a", 33)}, {"CAFE", ""}} {
		if _, err := w.svc.Point(w.ctx, c[0], c[1]); !errors.Is(err, enrolment.ErrNoPoint) {
			t.Errorf("Point(%q, %q): %v, want ErrNoPoint", c[0], c[1], err)
		}
	}
	if pt, err := w.svc.Point(w.ctx, "cafe", "store-12"); err != nil || pt.Partner.Name != "Coffee Corner" || pt.Location != "store-12" {
		t.Errorf("Point(cafe, store-12) = %+v, %v", pt, err)
	}
}

// The table holds no code, no number and no address in clear: only the
// token's SHA-256 and keyed hashes, the number's as the ledger keeps it.
func TestCodesContactsAndAddressesAreStoredOnlyAsKeyedHashes(t *testing.T) {
	w := newWorld(t, enrolment.Phone)
	ch := w.start(w.cafe, "+7 900 111-22-33")
	code := w.out.last(t, "+79001112233")
	var tokenHash, contactHash, clientHash, codeHash []byte
	var created, expires time.Time
	if err := w.tx.Pool().QueryRow(w.ctx, `SELECT token_hash, contact_hash, client_hash, code_hash, created_at, expires_at FROM enrolment_codes`).
		Scan(&tokenHash, &contactHash, &clientHash, &codeHash, &created, &expires); err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256([]byte(ch.Token)); !bytes.Equal(tokenHash, h[:]) {
		t.Error("the token's hash is not its SHA-256")
	}
	if h, _ := w.hasher.HashPhone(w.ctx, "+79001112233"); !bytes.Equal(contactHash, h) {
		t.Error("the contact's hash is not the phone's keyed hash")
	}
	for _, h := range [][]byte{clientHash, codeHash} {
		for _, clear := range []string{code, "203.0.113.7", "+79001112233"} {
			if s := sha256.Sum256([]byte(clear)); bytes.Contains(h, []byte(clear)) || bytes.Equal(h, s[:]) {
				t.Errorf("a hash gives %q away", clear)
			}
		}
	}
	if !created.Equal(start) || !expires.Equal(start.Add(10*time.Minute)) || !ch.ExpiresAt.Equal(expires) {
		t.Errorf("code made %v, expires %v", created, expires)
	}
}

func TestACodeLapsesAfterTenMinutes(t *testing.T) {
	w := newWorld(t, enrolment.Phone)
	ch := w.start(w.cafe, "+79001112233")
	w.clock.Advance(10 * time.Minute)
	_, err := w.svc.Verify(w.ctx, enrolment.Verification{Token: ch.Token, Contact: ch.Contact, Code: w.out.last(t, ch.Contact), Consent: true})
	if !errors.Is(err, enrolment.ErrExpired) || w.members() != 0 {
		t.Fatalf("a lapsed code: %v, %d members", err, w.members())
	}
}

// A token is good only for the contact its code went to: a browser that
// swaps the number in its cookie gets nowhere.
func TestACodeOpensOnlyTheContactItWasSentTo(t *testing.T) {
	w := newWorld(t, enrolment.Phone)
	ch := w.start(w.cafe, "+79001112233")
	_, err := w.svc.Verify(w.ctx, enrolment.Verification{Token: ch.Token, Contact: "+79009998877", Code: w.out.last(t, ch.Contact), Consent: true})
	if !errors.Is(err, enrolment.ErrExpired) {
		t.Fatalf("another number with the code: %v", err)
	}
	if res, err := w.svc.Verify(w.ctx, enrolment.Verification{Token: ch.Token, Contact: ch.Contact, Code: w.out.last(t, ch.Contact), Consent: true}); err != nil || !res.New {
		t.Fatalf("the number itself: %+v, %v", res, err)
	}
	// Used once, the code opens nothing more.
	if _, err := w.svc.Verify(w.ctx, enrolment.Verification{Token: ch.Token, Contact: ch.Contact, Code: w.out.last(t, ch.Contact), Consent: true}); !errors.Is(err, enrolment.ErrExpired) {
		t.Fatalf("a used code again: %v", err)
	}
}

// Coalitions that confirm by e-mail: the ledger keeps no address, so the
// self-enrolment row finds the member again, from any partner's QR code.
func TestAnEmailAddressFindsItsMemberAgainAtAnotherPartner(t *testing.T) {
	w := newWorld(t, enrolment.Email)
	first := w.join(w.cafe, "Anna@Example.com")
	if !first.New || first.Member.WelcomePoints != 100 || first.Session.MemberID != first.Member.ID || first.SessionToken == "" {
		t.Fatalf("first join: %+v", first)
	}
	again := w.join(w.cinema, "anna@example.com")
	if again.New || again.Member.ID != first.Member.ID || w.members() != 1 {
		t.Fatalf("second join at the cinema: %+v, %d members", again, w.members())
	}
	var partner coalition.PartnerID
	var location, channel, kind string
	if err := w.tx.Pool().QueryRow(w.ctx, `SELECT partner_id, location, channel, contact_kind FROM self_enrolments WHERE member_id = $1`, first.Member.ID).
		Scan(&partner, &location, &channel, &kind); err != nil {
		t.Fatal(err)
	}
	if partner != w.cafe.Partner.ID || location != "airport" || channel != "qr" || kind != "email" {
		t.Fatalf("acquisition: %v %q %q %q", partner, location, channel, kind)
	}
}

// Two verifications of one address at once (two codes, two tabs) enroll
// one member: the second finds the first's claim and replays its key.
func TestConcurrentVerificationsOfOneContactEnrolOneMember(t *testing.T) {
	w := newWorld(t, enrolment.Email)
	var vs []enrolment.Verification
	for range 3 {
		ch := w.start(w.cafe, "anna@example.com")
		vs = append(vs, enrolment.Verification{Token: ch.Token, Contact: ch.Contact, Code: w.out.last(t, ch.Contact), Consent: true})
	}
	results := make([]enrolment.Result, len(vs))
	errs := make([]error, len(vs))
	var wg sync.WaitGroup
	for i, v := range vs {
		wg.Go(func() { results[i], errs[i] = w.svc.Verify(w.ctx, v) })
	}
	wg.Wait()
	for i := range vs {
		if errs[i] != nil || results[i].Member.ID != results[0].Member.ID {
			t.Fatalf("verification %d: %+v, %v", i, results[i], errs[i])
		}
	}
	if n := w.members(); n != 1 {
		t.Fatalf("%d members, want 1", n)
	}
}

// A server that died between the ledger's enrolment and recording it
// leaves a claim without its member: the next verification replays the
// claim's key, gets the same member (no second welcome bonus) and records
// it.
func TestAClaimLeftByACrashIsFinishedByTheNextVerification(t *testing.T) {
	w := newWorld(t, enrolment.Phone)
	contactHash, _ := w.hasher.HashPhone(w.ctx, "+79001112233")
	m, err := w.ledger.Enroll(w.ctx, w.cafe.Partner.ID, ledger.Enrollment{IdempotencyKey: "self-enrolment/crashed", Phone: "+79001112233"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.tx.Pool().Exec(w.ctx, `
		INSERT INTO self_enrolments (contact_hash, contact_kind, partner_id, location, channel, enrol_key, claimed_at)
		VALUES ($1, 'phone', $2, 'airport', 'qr', 'self-enrolment/crashed', $3)`, contactHash, w.cafe.Partner.ID, start); err != nil {
		t.Fatal(err)
	}
	res := w.join(w.cinema, "+79001112233")
	if res.Member.ID != m.ID || !res.New || w.members() != 1 {
		t.Fatalf("after the crash: %+v, %d members", res, w.members())
	}
	var member *coalition.MemberID
	if err := w.tx.Pool().QueryRow(w.ctx, `SELECT member_id FROM self_enrolments WHERE contact_hash = $1`, contactHash).Scan(&member); err != nil || member == nil || *member != m.ID {
		t.Fatalf("claim's member %v (%v)", member, err)
	}
	b, err := w.ledger.BalanceOf(w.ctx, ledger.MemberRef{ID: m.ID})
	if err != nil || b.Available != 100 {
		t.Fatalf("balance %+v (%v), want one welcome bonus", b, err)
	}
}

// A partner suspended between the code and its verification refuses the
// enrolment, and the claim goes with the refusal, so that the person can
// join elsewhere.
func TestARefusedEnrolmentLeavesNoClaim(t *testing.T) {
	w := newWorld(t, enrolment.Phone)
	ch := w.start(w.cinema, "+79001112233")
	if err := w.reg.SetStatus(w.ctx, "cinema", "suspended"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Verify(w.ctx, enrolment.Verification{Token: ch.Token, Contact: ch.Contact, Code: w.out.last(t, ch.Contact), Consent: true}); err == nil {
		t.Fatal("enrolled at a suspended partner")
	}
	var n int
	if err := w.tx.Pool().QueryRow(w.ctx, `SELECT count(*) FROM self_enrolments`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d claims left (%v)", n, err)
	}
	if res := w.join(w.cafe, "+79001112233"); !res.New || res.Member.HomePartnerID != w.cafe.Partner.ID {
		t.Fatalf("joining at the café then: %+v", res)
	}
}

// A member whose terms changed consents again when they sign in by QR;
// the first consent to each version stays as it was.
func TestEachVersionOfTheTermsIsConsentedToOnce(t *testing.T) {
	w := newWorld(t, enrolment.Phone)
	res := w.join(w.cafe, "+79001112233")
	w.clock.Advance(time.Hour)
	w.join(w.cafe, "+79001112233")
	var at time.Time
	var n int
	if err := w.tx.Pool().QueryRow(w.ctx, `SELECT count(*), min(consented_at) FROM terms_consents WHERE member_id = $1 AND terms_version = '2026-03'`,
		res.Member.ID).Scan(&n, &at); err != nil || n != 1 || !at.Equal(start) {
		t.Fatalf("consents %d at %v (%v)", n, at, err)
	}
}

func TestThePurgeDeletesOnlyCodesLongLapsed(t *testing.T) {
	w := newWorld(t, enrolment.Phone)
	w.start(w.cafe, "+79001112233")
	w.clock.Advance(24*time.Hour + 10*time.Minute) // the first lapsed a day ago, to the microsecond
	w.clock.Advance(time.Microsecond)
	w.start(w.cafe, "+79004445566")
	n, err := w.svc.PurgeCodes(w.ctx, 100)
	if err != nil || n != 1 {
		t.Fatalf("purged %d (%v), want the first code only", n, err)
	}
	var left int
	if err := w.tx.Pool().QueryRow(w.ctx, `SELECT count(*) FROM enrolment_codes`).Scan(&left); err != nil || left != 1 {
		t.Fatalf("%d codes left (%v)", left, err)
	}
}
