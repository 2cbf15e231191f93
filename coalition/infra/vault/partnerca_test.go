package vault_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
)

// The portal's certificate credential issues and revokes partner
// certificates, and nothing else: no server or staff certificate, no
// hashing, no reading of the wallet's secrets.
func TestThePartnerCAPolicyIssuesAndRevokesPartnerCertificatesOnly(t *testing.T) {
	ctx := context.Background()
	root := startVault(t)
	if _, err := root.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	secret, err := root.API().Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"coalition-partner-ca"}, NoParent: true, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := vault.New(root.API().Address(), secret.Auth.ClientToken)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ca.IssuePartnerCert(ctx, coalition.NewPartnerID(), "cafe", time.Hour)
	if err != nil {
		t.Fatalf("the partner CA credential cannot issue a partner certificate: %v", err)
	}
	if err := ca.Revoke(ctx, b.Serial); err != nil {
		t.Fatalf("the partner CA credential cannot revoke: %v", err)
	}
	revoked, err := root.RevokedSerials(ctx)
	if err != nil || !revoked[strings.ToLower(b.Serial)] {
		t.Fatalf("revoked serial %s not in the CRL (%v)", b.Serial, err)
	}
	if _, _, err := ca.IssueServerCert(ctx, []string{"localhost"}, time.Hour); err == nil {
		t.Error("the partner CA credential issued a server certificate")
	}
	if _, err := ca.IssueStaffCert(ctx, "finance", "eve", time.Hour); err == nil {
		t.Error("the partner CA credential issued a staff certificate")
	}
	if _, err := ca.HMAC(ctx, vault.PhoneHashKey, []byte("+79160000001")); err == nil {
		t.Error("the partner CA credential hashed a phone number")
	}
}
