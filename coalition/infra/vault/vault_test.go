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

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
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
	id := coalition.NewPartnerID()
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
	cert, err := vault.NewServerCert(ctx, srv, []string{"localhost", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The watcher runs on a manual clock; Vault issues by the real one.
	clk := clock.NewManual(time.Now())
	cert.Clock, cert.After = clk.Now, clk.After
	first, _ := cert.GetCertificate(nil)
	old, err := x509.ParseCertificate(first.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	go cert.Renew(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	asleep := func() {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); clk.Waiting() == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the renewal watcher is not waiting on its clock")
			}
		}
	}
	asleep()
	clk.Advance(30 * time.Minute) // half its life: too early
	asleep()
	if cur, _ := cert.GetCertificate(nil); cur != first {
		t.Fatal("renewed at half the certificate's life")
	}
	clk.Advance(11 * time.Minute) // past two thirds, well before it expires
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		cur, _ := cert.GetCertificate(nil)
		if cur == first {
			continue // the watcher is asking Vault
		}
		leaf, err := x509.ParseCertificate(cur.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if leaf.SerialNumber.Cmp(old.SerialNumber) == 0 || leaf.NotAfter.Before(old.NotAfter) {
			t.Fatalf("renewed certificate %s expires at %s, the old one %s at %s", leaf.SerialNumber, leaf.NotAfter, old.SerialNumber, old.NotAfter)
		}
		return
	}
	t.Fatal("the server certificate was not renewed two thirds into its life")
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
	if _, err := srv.IssuePartnerCert(ctx, coalition.NewPartnerID(), "evil", time.Hour); err == nil {
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
