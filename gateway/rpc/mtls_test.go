package rpc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/devenv/vaultdev"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// mtlsEnv is the coalition served with mutual TLS, as coalitiond serves
// it with Vault: the server logs in with its AppRole, and its certificate
// and the partners' client certificates come from a real Vault.
type mtlsEnv struct {
	t            *testing.T
	vaultDir     string
	vsrv         *vaultdev.Server
	v            *vault.Client // the operator's
	pool         *x509.CertPool
	srv          *servertest.Server
	addr         string
	reg          *partners.Register
	cafe, cinema partners.Partner
	// The authenticator's clock: real time (Vault issues certificates by
	// it), moved ahead to see a certificate expire.
	clock clock.Offset
}

func newMTLSEnv(t *testing.T) *mtlsEnv {
	t.Helper()
	ctx := context.Background()
	e := &mtlsEnv{t: t}
	var err error
	if e.vaultDir, err = os.MkdirTemp("", "vault-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(e.vaultDir) })
	e.startVault()
	creds, err := e.v.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.pool, _, err = e.v.CAPool(ctx); err != nil {
		t.Fatal(err)
	}
	e.srv = servertest.Start(t, server.Config{
		Pool:     pgtest.NewDB(t),
		Vault:    server.VaultConfig{Addr: e.vsrv.Addr, RoleID: creds.RoleID, SecretID: creds.SecretID},
		TLSHosts: []string{"localhost", "127.0.0.1"},
		Settings: ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100},
		// Certificates are judged on the test's clock.
		CredentialClock: e.clock.Now,
	})
	e.addr, e.reg = e.srv.GRPCAddr(), e.srv.Partners()
	for _, p := range []*partners.Partner{&e.cafe, &e.cinema} {
		code := map[*partners.Partner]string{&e.cafe: "cafe", &e.cinema: "cinema"}[p]
		if *p, err = e.reg.Add(ctx, partners.Partner{Code: code, Name: code, Kind: code, EarnRateBP: 500, PointsTTLDays: 365}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *mtlsEnv) startVault() {
	// The same storage on whatever port is free: a restarted Vault keeps its
	// CA and keys.
	srv, err := vaultdev.Start(context.Background(), vaultdev.Options{DataDir: e.vaultDir})
	if err != nil {
		e.t.Fatal(err)
	}
	e.vsrv = srv
	e.t.Cleanup(func() { srv.Stop() })
	if e.v, err = vault.New(srv.Addr, srv.Token); err != nil {
		e.t.Fatal(err)
	}
}

// refreshCRL has the server read the revocation list now, not at its next
// refresh.
func (e *mtlsEnv) refreshCRL() {
	e.t.Helper()
	if err := e.srv.RefreshRevocations(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// dial connects with a client certificate (none if cert is nil).
func (e *mtlsEnv) dial(cert *tls.Certificate) pb.PartnerServiceClient {
	e.t.Helper()
	cfg := &tls.Config{RootCAs: e.pool, ServerName: "localhost"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return pb.NewPartnerServiceClient(conn)
}

// settlement connects to the settlement service with a client certificate.
func (e *mtlsEnv) settlement(cert *tls.Certificate) pb.SettlementServiceClient {
	e.t.Helper()
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: e.pool, ServerName: "localhost", Certificates: []tls.Certificate{*cert}})))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return pb.NewSettlementServiceClient(conn)
}

func (e *mtlsEnv) issue(p partners.Partner, ttl time.Duration) (*tls.Certificate, vault.Bundle) {
	e.t.Helper()
	b, err := e.v.IssuePartnerCert(context.Background(), p.ID, p.Code, ttl)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := tls.X509KeyPair([]byte(b.CertPEM+"\n"+b.CAChainPEM), []byte(b.KeyPEM))
	if err != nil {
		e.t.Fatal(err)
	}
	return &c, b
}

func ctx30(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func enrollOver(t *testing.T, c pb.PartnerServiceClient) (*pb.EnrollMemberResponse, error) {
	return c.EnrollMember(ctx30(t), &pb.EnrollMemberRequest{IdempotencyKey: uuid.NewString()})
}

func TestPartnersAreWhoTheirCertificateSays(t *testing.T) {
	e := newMTLSEnv(t)
	cafeCert, _ := e.issue(e.cafe, time.Hour)
	cafe := e.dial(cafeCert)
	m, err := enrollOver(t, cafe)
	if err != nil {
		t.Fatal(err)
	}
	if m.Member.HomePartnerId != e.cafe.ID.String() {
		t.Fatalf("enrolled by %s, want the café %s (from its certificate)", m.Member.HomePartnerId, e.cafe.ID)
	}
	// Phones are hashed by Vault's transit engine.
	if _, err := cafe.EnrollMember(ctx30(t), &pb.EnrollMemberRequest{IdempotencyKey: "p", Phone: "+79165550101"}); err != nil {
		t.Fatal(err)
	}
	found, err := cafe.LookupMember(ctx30(t), &pb.LookupMemberRequest{Member: byPhone("+79165550101")})
	if err != nil || found.Member.PhoneMasked == "" {
		t.Fatalf("lookup by phone = %v, %v", found, err)
	}
}

func TestCertificatesThatAreMissingForeignExpiredOrRevokedAreRefused(t *testing.T) {
	e := newMTLSEnv(t)
	_, err := enrollOver(t, e.dial(nil))
	wantStatus(t, err, codes.Unauthenticated, "")

	// A certificate from another CA naming the café.
	foreign := selfSigned(t, e.cafe.ID)
	_, err = enrollOver(t, e.dial(foreign))
	wantStatus(t, err, codes.Unauthenticated, "")

	short, _ := e.issue(e.cinema, time.Minute)
	e.clock.Advance(2 * time.Minute)
	_, err = enrollOver(t, e.dial(short))
	wantStatus(t, err, codes.Unauthenticated, "")
	if !strings.Contains(status.Convert(err).Message(), "expired") {
		t.Fatalf("refused with %q, want the certificate expired", status.Convert(err).Message())
	}
	e.clock.Advance(-2 * time.Minute)

	// Rotation with overlap: a new certificate works beside the old one,
	// then the old one is revoked.
	old, oldBundle := e.issue(e.cafe, time.Hour)
	fresh, _ := e.issue(e.cafe, time.Hour)
	if _, err := enrollOver(t, e.dial(old)); err != nil {
		t.Fatal(err)
	}
	if _, err := enrollOver(t, e.dial(fresh)); err != nil {
		t.Fatal(err)
	}
	if err := e.v.Revoke(context.Background(), oldBundle.Serial); err != nil {
		t.Fatal(err)
	}
	e.refreshCRL()
	_, err = enrollOver(t, e.dial(old))
	wantStatus(t, err, codes.Unauthenticated, "")
	if _, err := enrollOver(t, e.dial(fresh)); err != nil {
		t.Fatalf("the new certificate stopped working: %v", err)
	}

	// A suspended partner's valid certificate opens nothing.
	if err := e.reg.SetStatus(context.Background(), "cafe", "suspended"); err != nil {
		t.Fatal(err)
	}
	_, err = enrollOver(t, e.dial(fresh))
	wantStatus(t, err, codes.PermissionDenied, "")
	_, err = e.settlement(fresh).ListWindows(ctx30(t), &pb.ListWindowsRequest{})
	wantStatus(t, err, codes.PermissionDenied, "")
}

func TestTradingGoesOnWhileVaultIsDownAndOnboardingRecovers(t *testing.T) {
	e := newMTLSEnv(t)
	cert, _ := e.issue(e.cafe, time.Hour)
	cafe := e.dial(cert)
	m, err := enrollOver(t, cafe)
	if err != nil {
		t.Fatal(err)
	}
	e.refreshCRL()
	e.vsrv.Stop()
	// Established partners keep trading on the cached revocation list.
	if _, err := cafe.Accrue(ctx30(t), &pb.AccrueRequest{IdempotencyKey: "a", Member: byID(m.Member), Purchase: rub(10_000), OrderId: "1"}); err != nil {
		t.Fatalf("accrue with Vault down: %v", err)
	}
	// Onboarding needs Vault and says so.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.v.IssuePartnerCert(ctx, e.cinema.ID, "cinema", time.Hour); err == nil {
		t.Fatal("a certificate was issued with Vault down")
	}
	// Vault comes back (same storage, unsealed again) and onboarding works.
	e.startVault()
	cinema, _ := e.issue(e.cinema, time.Hour)
	if _, err := enrollOver(t, e.dial(cinema)); err != nil {
		t.Fatalf("after Vault returned: %v", err)
	}
}

// selfSigned makes a CA of its own and a client certificate from it that
// claims to be the partner.
func selfSigned(t *testing.T, partner coalition.PartnerID) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Not the Coalition"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &key.PublicKey, key)
	ca, _ := x509.ParseCertificate(caDER)
	u, _ := url.Parse(vault.PartnerURI(partner))
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "cafe"}, URIs: []*url.URL{u},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}
}
