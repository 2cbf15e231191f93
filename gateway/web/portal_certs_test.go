package web_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/csv"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/onboarding"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/web"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// syncBuffer is a log the server writes from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// downloads are the files of a certificate just issued, as the page
// offers them.
var download = regexp.MustCompile(`id="download-(cert|key|ca)" href="data:application/x-pem-file;base64,([^"]+)"`)

func bundleOn(t *testing.T, body string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, m := range download.FindAllStringSubmatch(body, -1) {
		b, err := base64.StdEncoding.DecodeString(m[2])
		if err != nil {
			t.Fatalf("%s.pem on the page: %v", m[1], err)
		}
		files[m[1]] = b
	}
	if len(files) != 3 {
		t.Fatalf("the issued certificate's page offers %d files, want cert, key and ca:\n%s", len(files), body)
	}
	return files
}

// lookup calls the partner API over mutual TLS with a client certificate,
// for a card that does not exist: a certificate the server accepts gets
// NOT_FOUND, one it refuses UNAUTHENTICATED.
func (s *site) lookup(cert tls.Certificate) codes.Code {
	s.t.Helper()
	conn, err := grpc.NewClient(s.srv.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: s.srv.CAPool(), ServerName: "localhost", Certificates: []tls.Certificate{cert}})))
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = pb.NewPartnerServiceClient(conn).GetBalance(ctx, &pb.GetBalanceRequest{
		Member: &pb.MemberRef{Ref: &pb.MemberRef_CardNumber{CardNumber: "0000000000000000"}}})
	return status.Code(err)
}

// A partner's admin issues a certificate in the portal: it is the
// partner's (its id in the URI SAN), its key works with it and is kept
// nowhere (not in the database, not in the log); the partner's systems
// connect with it; revoked after a confirmation, it shows as revoked and
// the server refuses it.
func TestAPartnerAdminIssuesAndRevokesItsOwnCertificate(t *testing.T) {
	var logs syncBuffer
	s := newSite(t, func(c *server.Config) {
		c.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	cafe, _ := s.partnerStaff("cafe", "partner-admin", "Ann Cafe")
	page := cafe.get("/partner/certificates")
	wantCode(t, "the certificates page", page, http.StatusOK)
	if strings.Contains(page.body, `data-serial="`) {
		t.Fatalf("a new partner lists certificates:\n%s", page.body)
	}
	a := cafe.post("/partner/certificates", url.Values{})
	wantCode(t, "issuing a certificate", a, http.StatusOK)
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the page with the key may be kept: Cache-Control %q", cc)
	}
	files := bundleOn(t, a.body)
	pair, err := tls.X509KeyPair(files["cert"], files["key"])
	if err != nil {
		t.Fatalf("the downloaded key does not fit the certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != vault.PartnerURI(s.partnerID("cafe")) || leaf.Subject.CommonName != "cafe" {
		t.Fatalf("issued for %v %q, want the café", leaf.URIs, leaf.Subject.CommonName)
	}
	serial := vault.SerialString(leaf.SerialNumber.Bytes())
	if got := regexp.MustCompile(`id="issued-serial">([^<]+)<`).FindStringSubmatch(a.body); got == nil || got[1] != serial {
		t.Fatalf("the page names serial %v, the certificate is %s", got, serial)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(files["ca"]) {
		t.Fatal("ca.pem holds no certificate")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("the certificate does not verify against ca.pem: %v", err)
	}
	// The key went to the admin only.
	block, _ := pem.Decode(files["key"])
	keyText := base64.StdEncoding.EncodeToString(block.Bytes)[:40]
	if strings.Contains(logs.String(), keyText) || strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Error("the server's log holds the private key")
	}
	var stored int
	if err := s.pool.QueryRow(context.Background(), `
		SELECT count(*) FROM partner_certificates AS c WHERE c::text LIKE '%' || $1 || '%'`, keyText).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("the register holds the key (%d rows, %v)", stored, err)
	}
	if again := cafe.get("/partner/certificates"); strings.Contains(again.body, "download-key") || strings.Contains(again.body, keyText) {
		t.Error("the key is shown a second time")
	}

	// The partner's systems connect with it.
	if got := s.lookup(pair); got != codes.NotFound {
		t.Fatalf("a call with the new certificate: %s, want NotFound (accepted, no such card)", got)
	}

	// Listed as active, with the certificate's own dates.
	list := cafe.get("/partner/certificates")
	r := row(list.body, "data-serial", serial)
	if !strings.Contains(r, `data-state="active"`) || !strings.Contains(r, leaf.NotAfter.UTC().Format("2006-01-02 15:04 UTC")) || !strings.Contains(r, "<td>cafe</td>") {
		t.Fatalf("the list's row of %s:\n%s", serial, r)
	}

	// Revoking asks first, and the first form revokes nothing.
	ask := cafe.post("/partner/certificates/"+serial+"/revoke", url.Values{})
	wantCode(t, "asking to revoke", ask, http.StatusOK)
	if !strings.Contains(ask.body, `id="confirm-revoke"`) || !strings.Contains(ask.body, serial) {
		t.Fatalf("no confirmation asked:\n%s", ask.body)
	}
	if got := s.lookup(pair); got != codes.NotFound {
		t.Fatalf("the certificate stopped working before the revocation was confirmed: %s", got)
	}
	done := cafe.post("/partner/certificates/"+serial+"/revoke", url.Values{"confirm": {"yes"}})
	if done.code != http.StatusSeeOther || done.loc != "/partner/certificates" {
		t.Fatalf("confirming: HTTP %d to %q\n%s", done.code, done.loc, done.body)
	}
	list = cafe.get("/partner/certificates")
	if r := row(list.body, "data-serial", serial); !strings.Contains(r, `data-state="revoked"`) || strings.Contains(r, "data-revoke") {
		t.Fatalf("after revoking, the row of %s:\n%s", serial, r)
	}
	revoked, err := s.vault.RevokedSerials(context.Background())
	if err != nil || !revoked[strings.ToLower(serial)] {
		t.Fatalf("Vault's revocation list lacks %s (%v)", serial, err)
	}
	if err := s.srv.RefreshRevocations(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.lookup(pair); got != codes.Unauthenticated {
		t.Fatalf("a call with the revoked certificate: %s, want Unauthenticated", got)
	}
	// Sent again, the form changes nothing and fails nothing.
	again := cafe.post("/partner/certificates/"+serial+"/revoke", url.Values{"confirm": {"yes"}})
	if again.code != http.StatusSeeOther {
		t.Fatalf("revoking twice: HTTP %d\n%s", again.code, again.body)
	}
}

// The café's admin never sees, revokes or learns of the cinema's
// certificates: a serial of the cinema's is not found (as one that does
// not exist, so its existence is not revealed), and stays valid.
func TestAPartnerAdminCannotSeeOrRevokeAnotherPartnersCertificate(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	reg := s.srv.Partners()
	cinema, err := reg.ByCode(ctx, "cinema")
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := onboarding.Issue(ctx, s.vault, reg, cinema, 0)
	if err != nil {
		t.Fatal(err)
	}
	cafe, _ := s.partnerStaff("cafe", "partner-admin", "Ann Cafe")
	for _, p := range []string{"/partner/certificates", "/partner/certificates.csv"} {
		a := cafe.get(p)
		wantCode(t, "café "+p, a, http.StatusOK)
		if strings.Contains(a.body, theirs.Serial) {
			t.Errorf("café %s shows the cinema's certificate", p)
		}
	}
	for _, form := range []url.Values{{}, {"confirm": {"yes"}}} {
		a := cafe.post("/partner/certificates/"+theirs.Serial+"/revoke", form)
		wantCode(t, "the café revoking the cinema's certificate", a, http.StatusNotFound)
		unknown := cafe.post("/partner/certificates/0a:0b:0c/revoke", form)
		if unknown.code != a.code || unknown.body != strings.ReplaceAll(a.body, theirs.Serial, "0a:0b:0c") {
			t.Errorf("another partner's serial answers HTTP %d, an unknown one %d: they must not differ", a.code, unknown.code)
		}
	}
	cs, err := reg.Certificates(ctx, cinema.ID)
	if err != nil || len(cs) != 1 || cs[0].RevokedAt != nil {
		t.Fatalf("the cinema's certificates: %+v, %v; want one, not revoked", cs, err)
	}
	revoked, err := s.vault.RevokedSerials(ctx)
	if err != nil || revoked[strings.ToLower(theirs.Serial)] {
		t.Fatalf("the cinema's certificate is on Vault's revocation list (%v)", err)
	}
	cinemaAdmin, _ := s.partnerStaff("cinema", "partner-admin", "Bob Cinema")
	if r := row(cinemaAdmin.get("/partner/certificates").body, "data-serial", theirs.Serial); !strings.Contains(r, `data-state="active"`) {
		t.Fatalf("the cinema's own list:\n%s", r)
	}
}

// Each certificate's state is read against the business clock: revoked,
// expired once its end has passed, expiring within
// web.CertExpiringWithin of it, else active; the CSV says the same.
func TestCertificateStatesFollowTheirDates(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	reg := s.srv.Partners()
	cafe := s.partnerID("cafe")
	now := s.clock.Now()
	certs := []partners.Certificate{
		{Serial: "01:01", NotAfter: now.Add(-time.Minute)},
		{Serial: "01:02", NotAfter: now.Add(web.CertExpiringWithin - time.Hour)},
		{Serial: "01:03", NotAfter: now.Add(web.CertExpiringWithin + time.Hour)},
		{Serial: "01:04", NotAfter: now.Add(60 * 24 * time.Hour)},
	}
	for _, c := range certs {
		c.PartnerID, c.IssuedAt = cafe, now.Add(-90*24*time.Hour)
		if err := reg.RecordCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.MarkRevoked(ctx, "01:04"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, c := range certs {
		left := c.NotAfter.Sub(now)
		switch {
		case c.Serial == "01:04":
			want[c.Serial] = "revoked"
		case left <= 0:
			want[c.Serial] = "expired"
		case left <= 30*24*time.Hour:
			want[c.Serial] = "expiring"
		default:
			want[c.Serial] = "active"
		}
	}
	admin, _ := s.partnerStaff("cafe", "partner-admin", "Ann Cafe")
	page := admin.get("/partner/certificates")
	for serial, state := range want {
		if r := row(page.body, "data-serial", serial); !strings.Contains(r, `data-state="`+state+`"`) {
			t.Errorf("%s shows as %s, want %s", serial, r, state)
		}
	}
	file := admin.get("/partner/certificates.csv")
	wantCode(t, "the certificates' CSV", file, http.StatusOK)
	rows, err := csv.NewReader(strings.NewReader(file.body)).ReadAll()
	if err != nil || len(rows) != len(want)+1 {
		t.Fatalf("CSV of %d rows (%v), want a header and %d:\n%s", len(rows), err, len(want), file.body)
	}
	for _, r := range rows[1:] {
		if r[1] != "cafe" || want[r[0]] != r[4] {
			t.Errorf("CSV row %v: want common name cafe and state %s", r, want[r[0]])
		}
	}
}

// Without the partner CA credential the page lists the certificates and
// leaves issuing and revoking to the operator.
func TestWithoutAPartnerCACredentialTheOperatorIssuesCertificates(t *testing.T) {
	s := newSite(t, func(c *server.Config) { c.PartnerCA = server.VaultConfig{} })
	ctx := context.Background()
	reg := s.srv.Partners()
	p, err := reg.ByCode(ctx, "cafe")
	if err != nil {
		t.Fatal(err)
	}
	b, err := onboarding.Issue(ctx, s.vault, reg, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := s.partnerStaff("cafe", "partner-admin", "Ann Cafe")
	page := admin.get("/partner/certificates")
	wantCode(t, "the certificates page", page, http.StatusOK)
	if r := row(page.body, "data-serial", b.Serial); !strings.Contains(r, `data-state="active"`) || strings.Contains(r, "data-revoke") {
		t.Fatalf("the operator's certificate on the page:\n%s", r)
	}
	if !strings.Contains(page.body, `id="operator-issues"`) || strings.Contains(page.body, `id="issue-cert"`) {
		t.Fatal("the page offers to issue without a credential to issue with")
	}
	wantCode(t, "issuing", admin.post("/partner/certificates", url.Values{}), http.StatusConflict)
	wantCode(t, "revoking", admin.post("/partner/certificates/"+b.Serial+"/revoke", url.Values{"confirm": {"yes"}}), http.StatusConflict)
	cs, err := reg.Certificates(ctx, p.ID)
	if err != nil || len(cs) != 1 || cs[0].RevokedAt != nil {
		t.Fatalf("certificates after the refusals: %+v, %v", cs, err)
	}
}
