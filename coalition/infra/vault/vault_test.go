package vault_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition/devenv/vaultdev"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
)

func startVault(t *testing.T) *vault.Client {
	t.Helper()
	ctx := context.Background()
	srv, err := vaultdev.Start(ctx, vaultdev.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	c, err := vault.New(srv.Addr, srv.Token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBootstrapIsIdempotentAndIssuesPartnerCertificates(t *testing.T) {
	ctx := context.Background()
	c := startVault(t)
	creds, err := c.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if creds.RoleID == "" || creds.SecretID == "" {
		t.Fatalf("approle credentials = %+v", creds)
	}
	pool, chain, err := c.CAPool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A second bootstrap keeps the CA and the transit keys.
	h1, err := c.HMAC(ctx, vault.PhoneHashKey, []byte("+79160000001"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	if _, chain2, _ := c.CAPool(ctx); chain2 != chain {
		t.Fatal("a second bootstrap replaced the CA")
	}
	if h2, _ := c.HMAC(ctx, vault.PhoneHashKey, []byte("+79160000001")); string(h2) != string(h1) {
		t.Fatal("a second bootstrap changed the phone hash key")
	}
	id := uuid.New()
	b, err := c.IssuePartnerCert(ctx, id, "cafe", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(b.CertPEM))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != vault.PartnerURI(id) || cert.Subject.CommonName != "cafe" {
		t.Fatalf("certificate names %v %q", cert.URIs, cert.Subject.CommonName)
	}
	inter := x509.NewCertPool()
	inter.AppendCertsFromPEM([]byte(b.CAChainPEM))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("partner certificate does not verify against the coalition CA: %v", err)
	}
	// A partner certificate cannot name another kind of URI.
	if _, err := c.API().Logical().WriteWithContext(ctx, vault.PKIMount+"/issue/"+vault.PartnerRole, map[string]any{
		"common_name": "evil", "uri_sans": "coalition://staff/finance/evil"}); err == nil {
		t.Fatal("the partner role issued a staff URI")
	}
	// Revocation shows in the CRL.
	if err := c.Revoke(ctx, b.Serial); err != nil {
		t.Fatal(err)
	}
	revoked, err := c.RevokedSerials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !revoked[strings.ToLower(b.Serial)] {
		t.Fatalf("CRL %v lacks revoked serial %s", revoked, b.Serial)
	}
}

func TestServerCertificateIsRenewedBeforeItExpiresWithoutARestart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := startVault(t)
	creds, err := c.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The server's own identity: AppRole login, renewed by a watcher.
	srv, err := vault.LoginAppRole(ctx, c.API().Address(), creds, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := vault.NewServerCert(ctx, srv, []string{"localhost", "127.0.0.1"}, 6*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := cert.GetCertificate(nil)
	go cert.Renew(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		cur, _ := cert.GetCertificate(nil)
		if cur != first {
			leaf, err := x509.ParseCertificate(cur.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			if old, _ := x509.ParseCertificate(first.Certificate[0]); !leaf.NotAfter.After(old.NotAfter) || time.Now().After(old.NotAfter) {
				t.Fatalf("renewed at %s, old expired at %s", time.Now(), old.NotAfter)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the server certificate was not renewed before it expired")
}

func TestTheServersPolicyCannotIssuePartnerCertificates(t *testing.T) {
	ctx := context.Background()
	c := startVault(t)
	creds, err := c.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := vault.LoginAppRole(ctx, c.API().Address(), creds, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.IssuePartnerCert(ctx, uuid.New(), "evil", time.Hour); err == nil {
		t.Fatal("the server's AppRole issued a partner certificate")
	}
	if _, err := srv.HMAC(ctx, vault.PhoneHashKey, []byte("+79160000001")); err != nil {
		t.Fatalf("the server cannot hash phones: %v", err)
	}
}

func TestTheServerCertificateMayNameOnlyTheDomainsGivenAtBootstrap(t *testing.T) {
	ctx := context.Background()
	c := startVault(t)
	if _, err := c.Bootstrap(ctx, "localhost", "coalition.example"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.IssueServerCert(ctx, []string{"api.coalition.example", "127.0.0.1"}, time.Hour); err != nil {
		t.Fatalf("a name under a bootstrapped domain was refused: %v", err)
	}
	if _, _, err := c.IssueServerCert(ctx, []string{"evil.example"}, time.Hour); err == nil {
		t.Fatal("a server certificate for a foreign domain was issued")
	}
}
