package vault_test

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"testing"

	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/wallet/googlewallet"
	"github.com/coalition-loyalty/coalition/coalition/wallet/keypem"
	"github.com/coalition-loyalty/coalition/coalition/wallet/pkpass"
)

// Dev mode's pass type certificate comes from the coalition's own CA, with
// the subject Apple writes (UID = pass type id, OU = team id), so that the
// pass builder takes it exactly as it takes Apple's; the server reads the
// wallet credentials and cannot change them.
func TestDevWalletCredentialsAreSignedByTheCoalitionCAAndReadableByTheServerOnly(t *testing.T) {
	ctx := context.Background()
	c := startVault(t)
	creds, err := c.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const passType, team = "pass.org.coalition.dev", "DEVTEAM000"
	if err := c.EnsureDevWallet(ctx, passType, team); err != nil {
		t.Fatal(err)
	}
	srv, err := vault.LoginAppRole(ctx, c.API().Address(), creds, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := srv.WalletSecrets(ctx)
	if err != nil {
		t.Fatalf("the server cannot read the wallet credentials: %v", err)
	}
	if got.Apple == nil || got.Google == nil || got.APNs != nil {
		t.Fatalf("dev wallet credentials = apple %v, google %v, apns %v; want Apple and Google, no APNs key", got.Apple != nil, got.Google != nil, got.APNs != nil)
	}
	cert, err := keypem.Certificate([]byte(got.Apple.CertificatePEM))
	if err != nil {
		t.Fatal(err)
	}
	key, err := keypem.PrivateKey([]byte(got.Apple.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	wwdr, err := keypem.Certificate([]byte(got.Apple.WWDRPEM))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pkpass.NewBuilder(pkpass.Config{PassTypeIdentifier: passType, TeamIdentifier: team, Certificate: cert, Key: key, WWDR: wwdr}); err != nil {
		t.Fatalf("the pass builder refuses the dev certificate: %v", err)
	}
	if _, err := pkpass.NewBuilder(pkpass.Config{PassTypeIdentifier: "pass.org.other", TeamIdentifier: team, Certificate: cert, Key: key, WWDR: wwdr}); err == nil {
		t.Fatal("the dev certificate lost its UID: a builder for another pass type took it")
	}
	pool, _, err := c.CAPool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("the dev pass certificate does not chain to the coalition CA: %v", err)
	}
	if _, err := googlewallet.ParseServiceAccount([]byte(got.Google.ServiceAccountJSON)); err != nil {
		t.Fatalf("the dev service account: %v", err)
	}

	// A second start keeps what is stored.
	if err := c.EnsureDevWallet(ctx, passType, team); err != nil {
		t.Fatal(err)
	}
	again, _ := srv.WalletSecrets(ctx)
	if again.Apple.CertificatePEM != got.Apple.CertificatePEM || again.Google.ServiceAccountJSON != got.Google.ServiceAccountJSON {
		t.Fatal("a second EnsureDevWallet replaced the stored credentials")
	}
	if err := srv.PutAPNsKey(ctx, vault.APNsKey{KeyP8: "x", KeyID: "K", TeamID: team}); err == nil {
		t.Fatal("the server's AppRole wrote a wallet credential")
	}
}
