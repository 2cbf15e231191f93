package servertest

import (
	"context"
	"testing"

	"github.com/coalition-loyalty/coalition/coalition/devenv/vaultdev"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
)

// Vault starts a real Vault dev server for the test, set up as
// `coalitionctl vault bootstrap` sets one up, and stops it when the test
// ends. It returns the server, an operator's client (its root token) and
// the coalition server's AppRole credentials.
func Vault(t testing.TB) (*vaultdev.Server, *vault.Client, vault.AppRoleCredentials) {
	t.Helper()
	ctx := context.Background()
	vs, err := vaultdev.Start(ctx, vaultdev.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vs.Stop() })
	operator, err := vault.New(vs.Addr, vs.Token)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := operator.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return vs, operator, creds
}
